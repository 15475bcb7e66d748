/**
 * The envelope with PIPELINING (RFC 2920) against a scripted receiver on a raw socket, which
 * records what arrives in each read and answers each command as the test says. With
 * PIPELINING in the EHLO reply, MAIL FROM, every RCPT TO and DATA arrive in one read; the
 * outcome of every recipient is the one the same receiver gives without pipelining.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RecipientOutcome } from '@hikyaku/core';
import {
  openSession,
  outcomesForFailure,
  outcomesForSend,
  type SendEnvelope,
  type SmtpSession,
} from '@hikyaku/sender';
import { IP1 } from './harness.ts';

const HOST = '127.0.14.1';
const FROM = 'app@shop.test';
const MESSAGE = Buffer.from('Subject: pipelined\r\n\r\nhello\r\n.dot line\r\n');
/** The envelope to b@ and c@, one command per reply: what the receiver reads without pipelining. */
const ONE_COMMAND_PER_READ = [
  `MAIL FROM:<${FROM}> SIZE=${MESSAGE.length}\r\n`,
  'RCPT TO:<b@x.test>\r\n',
  'RCPT TO:<c@x.test>\r\n',
  'DATA\r\n',
];

const options = {
  connectTimeoutMs: 5000,
  greetingTimeoutMs: 5000,
  commandTimeoutMs: 5000,
  dataTimeoutMs: 5000,
  tlsVerify: false,
};

/** What the receiver answers to one command line ('.' is the end of the data). */
type Script = (command: string) => string;

interface Transaction {
  commands: string[];
  data?: string;
}

interface ScriptedReceiver {
  port: number;
  /** What each read of each connection brought, outside the message data. */
  reads: string[];
  transactions: Transaction[];
  close(): Promise<void>;
}

const EXTENSIONS = ['SIZE 10485760', '8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES'];

/** Answers every command the way a receiver accepting everything would. */
const acceptAll: Script = (command) => {
  if (command.startsWith('DATA')) return '354 End data with <CR><LF>.<CR><LF>';
  if (command === '.') return '250 2.0.0 Ok: queued as 4Xy7';
  return '250 2.1.0 Ok';
};

async function startScripted(pipelining: boolean, script: Script): Promise<ScriptedReceiver> {
  const reads: string[] = [];
  const transactions: Transaction[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    let inData = false;
    let current: Transaction | undefined;
    socket.write('220 scripted.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      reads.push(text);
      pending += text;
      const replies: string[] = [];
      for (;;) {
        if (inData) {
          const end = pending.indexOf('\r\n.\r\n');
          if (end < 0) break;
          if (current) current.data = pending.slice(0, end + 2);
          pending = pending.slice(end + 5);
          inData = false;
          replies.push(script('.'));
          continue;
        }
        const eol = pending.indexOf('\r\n');
        if (eol < 0) break;
        const command = pending.slice(0, eol);
        pending = pending.slice(eol + 2);
        if (/^EHLO /i.test(command)) {
          const lines = ['scripted.test', ...EXTENSIONS, ...(pipelining ? ['PIPELINING'] : [])];
          replies.push(
            lines.map((l, i) => `250${i < lines.length - 1 ? '-' : ' '}${l}`).join('\r\n'),
          );
          continue;
        }
        if (command === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
          return;
        }
        if (command.startsWith('MAIL FROM:')) {
          current = { commands: [] };
          transactions.push(current);
        }
        if (command !== 'RSET') current?.commands.push(command);
        const reply = script(command);
        replies.push(reply);
        if (command === 'DATA' && reply.startsWith('354')) inData = true;
      }
      if (replies.length > 0) socket.write(`${replies.join('\r\n')}\r\n`);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    reads,
    transactions,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function open(receiver: ScriptedReceiver, pipelining = true): Promise<SmtpSession> {
  return openSession(
    {
      localAddress: IP1.address,
      ehloName: IP1.hostname,
      host: 'mx.scripted.test',
      address: HOST,
      port: receiver.port,
    },
    { ...options, pipelining },
  );
}

/** The recipients' outcomes of one transaction, as a delivery makes them. */
async function outcomesOf(
  session: SmtpSession,
  envelope: SendEnvelope,
): Promise<RecipientOutcome[]> {
  try {
    const result = await session.send(envelope, MESSAGE);
    return outcomesForSend(envelope.to, result, 'mx.scripted.test', session.dsn);
  } catch (err) {
    return outcomesForFailure(envelope.to, err, { host: 'mx.scripted.test' });
  }
}

interface Run {
  outcomes: RecipientOutcome[];
  receiver: ScriptedReceiver;
  session: SmtpSession;
}

const running: Array<{ receiver: ScriptedReceiver; session: SmtpSession }> = [];

/** One transaction over a new session to a new scripted receiver, left open for more. */
async function run(
  script: Script,
  envelope: SendEnvelope,
  { offered = true, pipelining = true } = {},
): Promise<Run> {
  const receiver = await startScripted(offered, script);
  const session = await open(receiver, pipelining);
  running.push({ receiver, session });
  const outcomes = await outcomesOf(session, envelope);
  return { outcomes, receiver, session };
}

/** The same transaction pipelined and not: the outcomes must not differ. */
async function both(script: Script, envelope: SendEnvelope): Promise<[Run, Run]> {
  const pipelined = await run(script, envelope);
  const stepwise = await run(script, envelope, { pipelining: false });
  assert.equal(pipelined.session.pipelined, true);
  assert.equal(stepwise.session.pipelined, false);
  assert.deepEqual(pipelined.outcomes, stepwise.outcomes);
  return [pipelined, stepwise];
}

/** The reads of a transaction's envelope, from MAIL FROM on. */
function envelopeReads(receiver: ScriptedReceiver): string[] {
  const first = receiver.reads.findIndex((r) => r.startsWith('MAIL FROM:'));
  return receiver.reads.slice(first);
}

after(async () => {
  for (const { receiver, session } of running) {
    await session.close();
    await receiver.close();
  }
});

describe('PIPELINING', () => {
  let accepted: Run;

  before(async () => {
    accepted = await run(acceptAll, {
      from: FROM,
      to: ['b@x.test', 'c@x.test'],
      dsn: { ret: 'HDRS', envid: 'env-1' },
      rcptDsn: [{ rcpt: 'c@x.test', notify: ['FAILURE'], orcpt: 'rfc822;c@orig.test' }],
    });
  });

  it('sends MAIL FROM with its parameters, every RCPT TO with its own, and DATA in one write', () => {
    assert.equal(accepted.session.pipelined, true);
    const [batch, data] = envelopeReads(accepted.receiver);
    assert.equal(
      batch,
      `MAIL FROM:<${FROM}> SIZE=${MESSAGE.length} RET=HDRS ENVID=env-1\r\n` +
        'RCPT TO:<b@x.test>\r\n' +
        'RCPT TO:<c@x.test> NOTIFY=FAILURE ORCPT=rfc822;c@orig.test\r\n' +
        'DATA\r\n',
    );
    assert.ok(data?.startsWith('Subject: pipelined'), 'the message follows the 354 alone');
    assert.equal(
      accepted.receiver.transactions[0]?.data,
      'Subject: pipelined\r\n\r\nhello\r\n..dot line\r\n',
    );
    assert.deepEqual(
      accepted.outcomes.map((o) => [o.rcpt, o.status, o.code, o.remoteQueueId]),
      [
        ['b@x.test', 'delivered', 250, '4Xy7'],
        ['c@x.test', 'delivered', 250, '4Xy7'],
      ],
    );
  });

  it('carries the next transaction on the same connection', async () => {
    const result = await accepted.session.send({ from: FROM, to: ['d@x.test'] }, MESSAGE);
    assert.deepEqual(result.accepted, ['d@x.test']);
    assert.equal(accepted.receiver.transactions.length, 2);
    assert.equal(
      accepted.receiver.transactions[1]?.commands.join('|'),
      `MAIL FROM:<${FROM}> SIZE=${MESSAGE.length}|RCPT TO:<d@x.test>|DATA`,
    );
  });

  it('gives each refused recipient its own reply, 5xx and 4xx, and delivers the others', async () => {
    const script: Script = (command) => {
      if (command.startsWith('RCPT TO:<c@')) return '550 5.1.1 <c@x.test>: user unknown';
      if (command.startsWith('RCPT TO:<d@')) return '452 4.2.2 <d@x.test>: mailbox full';
      return acceptAll(command);
    };
    const [pipelined] = await both(script, {
      from: FROM,
      to: ['b@x.test', 'c@x.test', 'd@x.test'],
    });
    assert.deepEqual(
      pipelined.outcomes.map((o) => [o.rcpt, o.status, o.code, o.enhanced, o.text]),
      [
        ['b@x.test', 'delivered', 250, '2.0.0', '250 2.0.0 Ok: queued as 4Xy7'],
        ['c@x.test', 'failed', 550, '5.1.1', '550 5.1.1 <c@x.test>: user unknown'],
        ['d@x.test', 'deferred', 452, '4.2.2', '452 4.2.2 <d@x.test>: mailbox full'],
      ],
    );
    assert.equal(
      envelopeReads(pipelined.receiver)[0]?.split('\r\n').length,
      6,
      'five commands, one read',
    );
    assert.equal(pipelined.receiver.transactions[0]?.data?.startsWith('Subject:'), true);
  });

  it('sends no data when every recipient is refused, and the session carries on after RSET', async () => {
    let anyAccepted = false;
    const script: Script = (command) => {
      if (command.startsWith('MAIL FROM:')) anyAccepted = false;
      if (command.startsWith('RCPT TO:<b@')) return '550 5.1.1 <b@x.test>: user unknown';
      if (command.startsWith('RCPT TO:<c@')) return '450 4.2.1 <c@x.test>: try later';
      if (command.startsWith('RCPT TO:')) anyAccepted = true;
      if (command === 'DATA' && !anyAccepted) return '554 5.5.1 Error: no valid recipients';
      return acceptAll(command);
    };
    const [pipelined] = await both(script, { from: FROM, to: ['b@x.test', 'c@x.test'] });
    assert.deepEqual(
      pipelined.outcomes.map((o) => [o.rcpt, o.status, o.code, o.text]),
      [
        ['b@x.test', 'failed', 550, '550 5.1.1 <b@x.test>: user unknown'],
        ['c@x.test', 'deferred', 450, '450 4.2.1 <c@x.test>: try later'],
      ],
    );
    assert.deepEqual(pipelined.receiver.transactions[0]?.commands.slice(-1), ['DATA']);
    assert.equal(pipelined.receiver.transactions[0]?.data, undefined);
    assert.equal(pipelined.session.usable, true);
    await pipelined.session.reset();
    const next = await pipelined.session.send({ from: FROM, to: ['d@x.test'] }, MESSAGE);
    assert.deepEqual(next.accepted, ['d@x.test']);
  });

  it('fails every recipient with the reply to a refused MAIL FROM', async () => {
    const script: Script = (command) => {
      if (command.startsWith('MAIL FROM:')) return '550 5.7.1 <app@shop.test>: sender refused';
      if (command.startsWith('RCPT TO:')) return '503 5.5.1 Error: need MAIL command';
      if (command === 'DATA') return '503 5.5.1 Error: need RCPT command';
      return acceptAll(command);
    };
    const [pipelined, stepwise] = await both(script, { from: FROM, to: ['b@x.test', 'c@x.test'] });
    assert.deepEqual(
      pipelined.outcomes.map((o) => [o.rcpt, o.status, o.code, o.text]),
      [
        ['b@x.test', 'failed', 550, '550 5.7.1 <app@shop.test>: sender refused'],
        ['c@x.test', 'failed', 550, '550 5.7.1 <app@shop.test>: sender refused'],
      ],
    );
    assert.equal(pipelined.receiver.transactions[0]?.data, undefined);
    assert.deepEqual(stepwise.receiver.transactions[0]?.commands, [
      `MAIL FROM:<${FROM}> SIZE=${MESSAGE.length}`,
    ]);
  });

  it('fails the transaction with the reply to a refused DATA', async () => {
    const script: Script = (command) =>
      command === 'DATA' ? '451 4.3.0 Error: queue file write error' : acceptAll(command);
    const [pipelined] = await both(script, { from: FROM, to: ['b@x.test', 'c@x.test'] });
    assert.deepEqual(
      pipelined.outcomes.map((o) => [o.rcpt, o.status, o.code, o.text]),
      [
        ['b@x.test', 'deferred', 451, '451 4.3.0 Error: queue file write error'],
        ['c@x.test', 'deferred', 451, '451 4.3.0 Error: queue file write error'],
      ],
    );
    assert.equal(pipelined.receiver.transactions[0]?.data, undefined);
  });

  it('keeps the reply of a recipient refused at RCPT TO when DATA is refused', async () => {
    const script: Script = (command) => {
      if (command.startsWith('RCPT TO:<c@')) return '450 4.2.1 <c@x.test>: try later';
      if (command === 'DATA') return '554 5.3.0 Error: transaction refused';
      return acceptAll(command);
    };
    const [pipelined] = await both(script, { from: FROM, to: ['b@x.test', 'c@x.test'] });
    assert.deepEqual(
      pipelined.outcomes.map((o) => [o.rcpt, o.status, o.code, o.text]),
      [
        ['b@x.test', 'failed', 554, '554 5.3.0 Error: transaction refused'],
        ['c@x.test', 'deferred', 450, '450 4.2.1 <c@x.test>: try later'],
      ],
    );
    assert.equal(pipelined.receiver.transactions[0]?.data, undefined);
  });

  it('keeps the reply of a recipient refused at RCPT TO when the message is refused', async () => {
    const script: Script = (command) => {
      if (command.startsWith('RCPT TO:<c@')) return '550 5.1.1 <c@x.test>: user unknown';
      if (command === '.') return '451 4.3.0 Error: queue file write error';
      return acceptAll(command);
    };
    const [pipelined] = await both(script, { from: FROM, to: ['b@x.test', 'c@x.test'] });
    assert.deepEqual(
      pipelined.outcomes.map((o) => [o.rcpt, o.status, o.code, o.text]),
      [
        ['b@x.test', 'deferred', 451, '451 4.3.0 Error: queue file write error'],
        ['c@x.test', 'failed', 550, '550 5.1.1 <c@x.test>: user unknown'],
      ],
    );
    assert.equal(pipelined.receiver.transactions[0]?.data?.startsWith('Subject:'), true);
  });

  it('sends one command per reply to a receiver that does not offer PIPELINING', async () => {
    const { session, receiver, outcomes } = await run(
      acceptAll,
      { from: FROM, to: ['b@x.test', 'c@x.test'] },
      { offered: false },
    );
    assert.equal(session.pipelined, false);
    assert.deepEqual(envelopeReads(receiver).slice(0, 4), ONE_COMMAND_PER_READ);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['delivered', 'delivered'],
    );
  });

  it('sends one command per reply when pipelining is turned off, though the receiver offers it', async () => {
    const { session, receiver } = await run(
      acceptAll,
      { from: FROM, to: ['b@x.test', 'c@x.test'] },
      { pipelining: false },
    );
    assert.equal(session.pipelined, false);
    assert.deepEqual(envelopeReads(receiver).slice(0, 4), ONE_COMMAND_PER_READ);
  });
});
