/**
 * A receiving MTA run inside a network namespace (`ip netns exec NS node --import tsx
 * test/netns/receiver-main.ts HOST PORT`): it accepts every message and prints one JSON
 * line per message with what the receiver saw of the sender — the peer address and the
 * EHLO name — and `{"listening":true}` once it listens. It ends on SIGTERM.
 */
import { SMTPServer } from 'smtp-server';

const [host, port] = process.argv.slice(2);
if (!host || !port) {
  process.stderr.write('usage: receiver-main.ts HOST PORT\n');
  process.exit(2);
}

const server = new SMTPServer({
  name: 'mx.netns.test',
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      const line = {
        peer: session.remoteAddress.replace(/^::ffff:/, ''),
        ehlo: session.hostNameAppearsAs,
        rcpts: session.envelope.rcptTo.map((r) => r.address),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      callback(null, '2.0.0 Ok: stored');
    });
  },
});
server.on('error', (err) => process.stderr.write(`receiver: ${err.message}\n`));
server.listen(Number(port), host, () => process.stdout.write('{"listening":true}\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
