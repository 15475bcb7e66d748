/**
 * Every NATS message of a relayed message, by sending process and subject. Starts a
 * nats-server of its own with protocol tracing into a file, a local stack on it (the
 * benchmark's pool, the compiled services), relays the messages with smtp-source to a
 * counting smtp-sink, then reads the trace: each PUB/HPUB a client sent (nats-server's
 * "in") and each MSG/HMSG it was sent (its "out"), grouped by connection name and by
 * subject with ids, inboxes and sequences folded into one shape.
 *
 *   node --import tsx bench/nats-accounting.ts [--messages 200] [--sessions 1] [--reuse]
 *     [--wire-version 2] [--size 10240] [--keep-trace FILE]
 *
 * Needs Postfix's smtp-source and smtp-sink (apt `postfix`) and a current build (npm run build).
 *
 * Tracing slows nats-server down; the counts do not depend on it, the timing does, so use
 * this for what is sent, and `npm run bench -- --against postfix` for how much.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalStack } from '@hikyaku/local';
import { freePort, requireBinary, sleep, spawnTied, untie } from '@hikyaku/testing';
import { benchPool, printErrors } from './bench-pool.ts';
import { servicesInvocation } from './compiled-build.ts';
import { runSmtpSource, startCountingSink } from './postfix-tools.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200' },
    sessions: { type: 'string', default: '1' },
    size: { type: 'string', default: '10240' },
    reuse: { type: 'boolean', default: false },
    'wire-version': { type: 'string', default: '2' },
    'settle-ms': { type: 'string', default: '3000' },
    'keep-trace': { type: 'string' },
  },
});
const messages = Number(values.messages);
const SINK_HOST = '127.0.0.10';

/** One subject's shape: the parts that change per message (ids, inboxes, sequences) folded. */
function subjectShape(subject: string): string {
  if (subject.startsWith('_INBOX.')) return '_INBOX.*';
  if (subject.startsWith('$JS.ACK.')) {
    const parts = subject.split('.');
    // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
    return `$JS.ACK.${parts[2]}.${parts[3]}.…`;
  }
  if (subject.startsWith('$JS.API.DIRECT.GET.'))
    return `$JS.API.DIRECT.GET.${subject.split('.')[4]}`;
  if (subject.startsWith('$JS.API.')) {
    // Names of streams and consumers stay; a message id or sequence would not appear here.
    return subject;
  }
  if (subject.startsWith('$JS.FC.') || subject.startsWith('$JS.EVENT.'))
    return subject.split('.').slice(0, 3).join('.');
  if (subject.startsWith('$KV.')) return subject.split('.').slice(0, 3).join('.');
  const parts = subject.split('.');
  if (parts[0] === 'hikyaku') {
    if (parts[1] === 'body') return 'hikyaku.body.<id>';
    if (parts[1] === 'event') return `hikyaku.event.<pool>.….${parts.at(-1)}`;
    if (parts[1] === 'job') return 'hikyaku.job.<pool>.<ip>';
    return parts.slice(0, 3).join('.');
  }
  return subject;
}

interface Count {
  who: string;
  direction: 'in' | 'out';
  shape: string;
  reply: string;
  n: number;
}

/** Reads nats-server's trace: `<<- [PUB subj reply size]` in, `->> [MSG subj sid reply size]` out. */
function countTrace(text: string): Map<string, Count> {
  const counts = new Map<string, Count>();
  const line = /cid:(\d+)(?: - "([^"]*)")?.* - (<<-|->>) \[(H?PUB|H?MSG) ([^\]]*)\]/;
  for (const l of text.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    const who = m[2] || `cid:${m[1]}`;
    const direction = m[3] === '<<-' ? 'in' : 'out';
    const args = (m[5] as string).split(' ');
    const subject = args[0] as string;
    const pub = m[4]?.endsWith('PUB');
    // PUB subj [reply] size | HPUB subj [reply] hsize size; MSG subj sid [reply] size | HMSG … hsize size
    const fixed = (pub ? 1 : 2) + (m[4]?.startsWith('H') ? 2 : 1);
    const reply = args.length > fixed ? (args[pub ? 1 : 2] as string) : '';
    const shape = subjectShape(subject);
    const replyShape = reply ? subjectShape(reply) : '';
    const key = `${who}|${direction}|${shape}|${replyShape}`;
    const c = counts.get(key) ?? { who, direction, shape, reply: replyShape, n: 0 };
    c.n++;
    counts.set(key, c);
  }
  return counts;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-nats-accounting-'));
  const traceFile = join(dir, 'nats-trace.log');
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: "${join(dir, 'nats')}" }`,
      'trace: true',
      'logtime: false',
      'max_traced_msg_len: 1',
      `log_file: "${traceFile}"`,
      'logfile_size_limit: 0',
    ].join('\n'),
  );
  // Tied to this process: it does not outlive a run that fails.
  const nats = spawnTied(requireBinary('nats-server', 'nats-server'), ['-c', conf]);
  nats.stdout?.resume();
  nats.stderr?.resume();
  const sink = await startCountingSink(SINK_HOST, await freePort());
  try {
    await sleep(500);
    const stack = await startLocalStack({
      natsUrl: `nats://127.0.0.1:${port}`,
      pool: benchPool(SINK_HOST, sink.port),
      dataDir: join(dir, 'hikyaku'),
      smtpPort: await freePort(),
      env: { HIKYAKU_LOG_LEVEL: 'warn', HIKYAKU_WIRE_VERSION: values['wire-version'] as string },
      invocation: servicesInvocation(false),
      onOutput: printErrors,
    });
    try {
      // Warm: one message through, then the counted ones after a clean mark in the trace.
      await runSmtpSource({
        host: stack.smtpHost,
        port: stack.smtpPort,
        sessions: 1,
        messages: 1,
        size: Number(values.size),
        reuse: false,
        to: 'warm@example.test',
      });
      while (sink.count() < 1) await sleep(20);
      await sleep(Number(values['settle-ms']));
      const before = readFileSync(traceFile, 'utf8').length;
      const started = Date.now();
      await runSmtpSource({
        host: stack.smtpHost,
        port: stack.smtpPort,
        sessions: Number(values.sessions),
        messages,
        size: Number(values.size),
        reuse: values.reuse,
        to: 'counted@example.test',
      });
      while (sink.count() < messages + 1 && Date.now() - started < 300_000) await sleep(20);
      // What follows the last delivery (results, events, body removal) belongs to the run.
      await sleep(Number(values['settle-ms']));
      const seconds = (Date.now() - started) / 1000;
      const text = readFileSync(traceFile, 'utf8').slice(before);
      if (values['keep-trace']) writeFileSync(values['keep-trace'], text);
      const counts = [...countTrace(text).values()].sort(
        (a, b) => a.direction.localeCompare(b.direction) || b.n - a.n,
      );
      let total = { in: 0, out: 0 };
      for (const c of counts) {
        total = { ...total, [c.direction]: total[c.direction] + c.n };
        process.stdout.write(
          `${c.direction}\t${(c.n / messages).toFixed(3)}\t${c.who}\t${c.shape}${c.reply ? ` reply ${c.reply}` : ''}\n`,
        );
      }
      process.stdout.write(
        `${JSON.stringify({ messages, delivered: sink.count() - 1, seconds, sessions: Number(values.sessions), reuse: values.reuse, inPerMessage: total.in / messages, outPerMessage: total.out / messages })}\n`,
      );
    } finally {
      await stack.stop();
    }
  } finally {
    await sink.stop();
    untie(nats);
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
