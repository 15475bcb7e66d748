/**
 * `bench/smtp-layer.ts`: the two bare servers it measures take mail from a real SMTP
 * client, over new and reused connections, and the socket floor finds the end of the data
 * wherever the reads split it. A small measurement runs end to end with nodemailer as the
 * client, and with Postfix's smtp-source where it is installed, the whole ingress included
 * (its stack of the ingress alone is tested in test/e2e/stack-start-only.test.ts).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { createTransport } from 'nodemailer';
import { smtpSourceAvailable } from './postfix-tools.ts';
import { measureSmtpLayer, type SmtpLayerRun, summarizeSmtpLayer } from './smtp-layer.ts';
import {
  type RunningSmtpLayerServer,
  SMTP_LAYER_SERVERS,
  startSmtpLayerServer,
} from './smtp-layer-servers.ts';

const HOST = '127.0.0.2';

for (const kind of SMTP_LAYER_SERVERS) {
  describe(`the ${kind} server`, () => {
    let server: RunningSmtpLayerServer | undefined;
    after(() => server?.close());

    test('answers a real client 250 for each message, on new and reused connections', async () => {
      server = await startSmtpLayerServer(kind, HOST, 0);
      const envelope = { from: 'app@bench.test', to: 'rcpt@bench.test' };
      // Dot-stuffed lines, one that is a lone dot, and a message read in many pieces.
      const messages = [
        'Subject: dots\r\n\r\n.leading dot\r\n.\r\n..two\r\nend\r\n',
        `Subject: large\r\n\r\n${'x'.repeat(998)}\r\n`.repeat(300),
        'Subject: no final line end\r\n\r\nlast line',
      ];
      const pooled = createTransport({
        host: HOST,
        port: server.port,
        pool: true,
        maxConnections: 1,
      });
      for (const raw of messages) {
        const info = await pooled.sendMail({ envelope, raw });
        assert.match(info.response, /^250 /);
      }
      pooled.close();
      const single = createTransport({ host: HOST, port: server.port });
      for (const raw of messages.slice(0, 2)) {
        const info = await single.sendMail({ envelope, raw });
        assert.match(info.response, /^250 /);
      }
      assert.equal(server.messages(), 5);
    });
  });
}

/** Sends `pieces` one read apart and resolves with what the server answered. */
async function converse(port: number, pieces: string[]): Promise<string> {
  const socket: Socket = connect({ host: HOST, port });
  socket.setNoDelay(true);
  let answers = '';
  socket.on('data', (chunk: Buffer) => {
    answers += chunk.toString();
  });
  const until = async (text: string) => {
    for (let i = 0; i < 200 && !answers.includes(text); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await until('220 ');
  for (const piece of pieces) {
    socket.write(piece);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  await until('221 ');
  socket.destroy();
  return answers;
}

test('the socket floor finds a terminator split across reads, then takes the next transaction', async () => {
  const server = await startSmtpLayerServer('socket', HOST, 0);
  try {
    const answers = await converse(server.port, [
      'EHLO client.test\r\n',
      'MAIL FROM:<a@bench.test>\r\nRCPT TO:<b@bench.test>\r\nDATA\r\n',
      'Subject: split\r\n\r\nbody\r',
      '\n',
      '.',
      '\r\n',
      'MAIL FROM:<a@bench.test>\r\nRCPT TO:<b@bench.test>\r\nDATA\r\n.\r\nQUIT\r\n',
    ]);
    assert.equal(server.messages(), 2);
    assert.equal(answers.match(/^250 2\.0\.0 Ok: queued/gm)?.length, 2);
    assert.match(answers, /^221 /m);
  } finally {
    await server.close();
  }
});

test('the summary takes the median of each target and mode, and their differences', () => {
  const run = (server: SmtpLayerRun['server'], mode: SmtpLayerRun['mode'], cpu: number) => ({
    server,
    mode,
    client: 'smtp-source' as const,
    round: 1,
    messages: 1,
    size: 1,
    sessions: 1,
    cpuMsPerMessage: cpu,
    messagesPerSecond: 1,
  });
  const summary = summarizeSmtpLayer([
    run('ingress', 'new-connection', 1.1),
    run('ingress', 'new-connection', 0.8),
    run('ingress-layer', 'new-connection', 0.5),
    run('ingress-layer', 'new-connection', 0.4),
    run('ingress-layer', 'new-connection', 0.9),
    run('socket', 'new-connection', 0.2),
    run('socket', 'new-connection', 0.1),
    run('ingress', 'reused', 0.5),
    run('ingress-layer', 'reused', 0.3),
    run('ingress-layer', 'reused', 0.2),
    run('socket', 'reused', 0.1),
  ]);
  assert.deepEqual(summary, [
    {
      mode: 'new-connection',
      ingressCpuMs: 0.95,
      ingressLayerCpuMs: 0.5,
      socketCpuMs: 0.15,
      ownWorkCpuMs: 0.45,
      excessCpuMs: 0.35,
    },
    {
      mode: 'reused',
      ingressCpuMs: 0.5,
      ingressLayerCpuMs: 0.25,
      socketCpuMs: 0.1,
      ownWorkCpuMs: 0.25,
      excessCpuMs: 0.15,
    },
  ]);
});

const smtpSource = smtpSourceAvailable();

for (const client of ['nodemailer', 'smtp-source'] as const) {
  test(`a small measurement runs the three targets in both modes (${client})`, {
    skip:
      client === 'smtp-source' && !smtpSource
        ? "Postfix's smtp-source is not installed (apt-get install postfix); nodemailer's run covers the rest"
        : false,
    timeout: 180_000,
  }, async () => {
    const runs = await measureSmtpLayer({
      messages: 200,
      warmup: 0,
      size: 2048,
      sessions: 4,
      rounds: 1,
      host: HOST,
      client,
    });
    assert.deepEqual(
      runs.map((r) => `${r.server} ${r.mode} ${r.client}`),
      [
        `ingress new-connection ${client}`,
        `ingress reused ${client}`,
        `ingress-layer new-connection ${client}`,
        `ingress-layer reused ${client}`,
        `socket new-connection ${client}`,
        `socket reused ${client}`,
      ],
    );
    // /proc counts CPU in 10 ms ticks, which one quick run of the bare socket may not
    // reach: each target's runs together must show its process's CPU.
    for (const run of runs) assert.ok(run.cpuMsPerMessage >= 0, JSON.stringify(run));
    for (const target of ['ingress', 'ingress-layer', 'socket']) {
      const cpu = runs
        .filter((r) => r.server === target)
        .reduce((sum, r) => sum + r.cpuMsPerMessage, 0);
      assert.ok(cpu > 0, `${target}: no CPU counted in ${JSON.stringify(runs)}`);
    }
  });
}
