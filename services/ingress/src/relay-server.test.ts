import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { checkSmtpServerHooks, RelaySmtpServer } from './relay-server.ts';

// smtp-server is pinned; an upgrade that changes what RelayConnection replaces fails here
// (and the ingress refuses to start) instead of silently skipping a new step.
test('the smtp-server internals the ingress overrides are as expected', () => {
  assert.doesNotThrow(() => checkSmtpServerHooks());
});

let server: RelaySmtpServer;
let port: number;
/** The server side of every connection accepted, in order. */
const accepted: Socket[] = [];
const ids: string[] = [];
/** Sessions smtp-server has told the relay are over (onClose). */
const closed: string[] = [];

before(async () => {
  server = new RelaySmtpServer({
    name: 'relay.test',
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onHelo: () => undefined,
    onAddressCommand: () => undefined,
    onNoopIdle: () => ({ responseCode: 421, message: '4.4.2 idle' }),
    greetingPauseMs: () => 0,
    onConnect: (session, callback) => {
      ids.push(session.id);
      callback();
    },
    onClose: (session) => {
      closed.push(session.id);
    },
  });
  server.server.on('connection', (socket: Socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(resolve));
});

/** A client that keeps its side open until told otherwise; resolves each reply line. */
async function open(): Promise<{ socket: Socket; line: () => Promise<string> }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setEncoding('latin1');
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  const lines: string[] = [];
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const waiter = waiting.shift();
      if (waiter) waiter(text);
      else lines.push(text);
    }
  });
  await once(socket, 'connect');
  const line = () => {
    const next = lines.shift();
    return next !== undefined
      ? Promise.resolve(next)
      : new Promise<string>((resolve) => waiting.push(resolve));
  };
  return { socket, line };
}

test('QUIT: the 221, an orderly end, and the relay has let the connection go without waiting for the client', async () => {
  const { socket, line } = await open();
  assert.match(await line(), /^220 /);
  socket.write('EHLO client.test\r\n');
  while (!(await line()).startsWith('250 '));
  const ended = once(socket, 'end');
  socket.write('QUIT\r\n');
  assert.match(await line(), /^221 /);
  await ended;
  // The client has not closed its side; smtp-server alone would keep the socket half open
  // until it does (or 5 s pass).
  assert.equal(socket.writableEnded, false);
  assert.equal(accepted.at(-1)?.destroyed, true);
  socket.destroy();
});

test('QUIT: a command sent behind it is not answered, and the session ends as any other', async () => {
  const { socket, line } = await open();
  assert.match(await line(), /^220 /);
  const id = ids.at(-1);
  socket.write('EHLO client.test\r\n');
  while (!(await line()).startsWith('250 '));
  const received: string[] = [];
  socket.on('data', (chunk: string) => received.push(chunk));
  const ended = once(socket, 'end');
  socket.write('QUIT\r\nNOOP\r\n');
  assert.match(await line(), /^221 /);
  await ended;
  assert.equal(received.join(''), '221 Bye\r\n');
  // onClose runs on the socket's close event, as for a connection the client ends.
  await waitUntil(() => closed.includes(id ?? ''));
  assert.equal(server.connections.size, 0);
  socket.destroy();
});

test("the server tells of each connection with the client's own address", async () => {
  const seen: { remoteAddress: string; id: string }[] = [];
  const onConnect = (info: { remoteAddress: string; id: string }) => seen.push(info);
  server.on('connect', onConnect);
  try {
    for (const localAddress of ['127.0.0.2', '127.0.0.3']) {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      await once(socket, 'data');
      socket.destroy();
    }
  } finally {
    server.off('connect', onConnect);
  }
  assert.deepEqual(
    seen.map((info) => info.remoteAddress),
    ['127.0.0.2', '127.0.0.3'],
  );
  assert.deepEqual(
    seen.map((info) => info.id),
    ids.slice(-2),
  );
});

async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

test('connections are named by a count after a prefix drawn once, not by random bytes each', async () => {
  const before = ids.length;
  for (let i = 0; i < 3; i++) {
    const { socket, line } = await open();
    assert.match(await line(), /^220 /);
    socket.destroy();
  }
  const names = ids.slice(before);
  assert.equal(names.length, 3);
  for (const name of names) assert.match(name, /^[0-9a-v]{16}$/);
  const prefixes = new Set(names.map((name) => name.slice(0, 8)));
  assert.equal(prefixes.size, 1);
  const counts = names.map((name) => Number.parseInt(name.slice(8), 32));
  assert.deepEqual(counts, [counts[0], (counts[0] ?? 0) + 1, (counts[0] ?? 0) + 2]);
});
