/**
 * Fuzzing the SMTP front door: at least 10,000 random and mutated command lines and DATA
 * streams, from a seeded generator (HIKYAKU_FUZZ_SEED reproduces a run), pipelined over
 * many sessions at once. The ingress must stay up, release every session, and still accept
 * a well-formed message afterwards.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { METRICS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message } from './smtp-client.ts';

const SEED = Number(process.env.HIKYAKU_FUZZ_SEED ?? 20261130);
const ITEMS = 10_000;
const PARALLEL = 8;

let infra: Infra;
let relay: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  await infra.publish(
    await testPool(
      'fuzz',
      {
        allowedNetworks: ['127.0.0.0/8'],
        maxMessageSize: 32 * 1024,
        maxRecipients: 5,
        submitters: [{ username: 'fuzz', allowedSenderDomains: ['example.test'] }],
      },
      { fuzz: 'fuzz-pw' },
    ),
  );
  relay = await startIngressUnderTest(infra, {
    pools: ['test_fuzz'],
    env: {
      HIKYAKU_ALLOW_INSECURE_AUTH: 'true',
      HIKYAKU_AUTH_FAILURE_DELAY_MS: '0',
      HIKYAKU_AUTH_MAX_FAILURES: '1000000',
      HIKYAKU_SOCKET_TIMEOUT_MS: '2000',
      HIKYAKU_MAX_CLIENTS: '100',
    },
  });
});

after(async () => {
  await relay?.stop();
  await infra?.stop();
});

/** mulberry32: small, fast and the same everywhere. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)] as T;
  return { next, int, pick };
}

type Random = ReturnType<typeof generator>;

const ADDRESSES = [
  'a@example.test',
  'someone@example.test',
  '',
  'postmaster',
  'x@[127.0.0.1]',
  '"q@x"@example.test',
  'u%v@example.test',
  '@a.example:u@example.test',
  'j\u00fcrgen@b\u00fccher.example',
  `${'l'.repeat(70)}@example.test`,
  'UPPER@EXAMPLE.TEST',
  'trailing@example.test.',
];
const PLAIN_TOKEN = Buffer.from('\0fuzz\0fuzz-pw').toString('base64');

function template(r: Random): string {
  const address = r.pick(ADDRESSES);
  return r.pick([
    'EHLO fuzz.example.test',
    'HELO fuzz',
    'EHLO',
    `MAIL FROM:<${address}>`,
    `MAIL FROM:<${address}> SIZE=${r.int(100_000)}`,
    `MAIL FROM:<${address}> BODY=8BITMIME SMTPUTF8`,
    `MAIL FROM:<${address}> RET=FULL ENVID=x`,
    `RCPT TO:<${address}>`,
    `RCPT TO:<${address}> NOTIFY=SUCCESS`,
    'RSET',
    'NOOP',
    'HELP',
    'VRFY someone',
    'STARTTLS',
    `AUTH PLAIN ${PLAIN_TOKEN}`,
    'AUTH PLAIN',
    'AUTH LOGIN',
    Buffer.from('fuzz').toString('base64'),
    'AUTH CRAM-MD5',
    'BDAT 10 LAST',
    'XCLIENT ADDR=1.2.3.4',
    'GET / HTTP/1.1',
    'WIZ secret',
  ]);
}

const SPECIAL = [
  '\r',
  '\n',
  '\0',
  '.',
  ':',
  '<',
  '>',
  '@',
  ' ',
  '\t',
  '"',
  '\\',
  '\u00ff',
  '\u2028',
];

function mutate(r: Random, line: string): string {
  let out = line;
  const edits = 1 + r.int(4);
  for (let i = 0; i < edits; i++) {
    const at = r.int(out.length + 1);
    switch (r.int(6)) {
      case 0:
        out = out.slice(0, at) + r.pick(SPECIAL) + out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1 + r.int(5));
        break;
      case 2:
        out = out.slice(0, at) + String.fromCharCode(r.int(256)) + out.slice(at);
        break;
      case 3:
        out = r.next() < 0.5 ? out.toLowerCase() : out.toUpperCase();
        break;
      case 4:
        out = out.slice(0, at) + 'A'.repeat(r.int(r.next() < 0.05 ? 20_000 : 600)) + out.slice(at);
        break;
      default:
        out = out + out;
    }
  }
  return out;
}

const BODY_LINES = [
  'Subject: fuzz',
  'From: <a@example.test>',
  '',
  '.',
  '..',
  '...leading dots',
  'caf\u00e9',
  '\n.\nMAIL FROM:<x@example.test>',
  '\r.\r',
  '\r\n.\n',
  '\0.',
  'bare\nlf',
  'bare\rcr',
  '\u0000\u0001\u0002',
];

function dataStream(r: Random): string {
  const lines: string[] = [];
  const count = r.int(30);
  for (let i = 0; i < count; i++) {
    lines.push(
      r.next() < 0.7 ? r.pick(BODY_LINES) : 'x'.repeat(r.int(r.next() < 0.02 ? 40_000 : 200)),
    );
  }
  const terminator = r.next() < 0.9 ? '\r\n.\r\n' : r.pick(['\n.\n', '\r\n', '']);
  // Clients stuff a leading dot; now and then one does not, and the rest of its message
  // turns into commands.
  const body = lines.join('\r\n');
  const stuffed = r.next() < 0.95 ? body.replace(/(^|\r\n)\./g, '$1..') : body;
  return `DATA\r\n${stuffed}${terminator}`;
}

/**
 * Items: command lines (from templates, mutated, or random bytes) and DATA streams, often
 * as a whole transaction so that the data path is reached as well as the parser.
 */
function items(r: Random): string[] {
  const roll = r.next();
  if (roll < 0.5) {
    const from = r.next() < 0.8 ? 'a@example.test' : r.pick(ADDRESSES);
    const rcpts = Array.from({ length: 1 + r.int(3) }, () =>
      r.next() < 0.8 ? `r${r.int(9)}@example.test` : r.pick(ADDRESSES),
    );
    const lines = ['RSET', `MAIL FROM:<${from}>`, ...rcpts.map((to) => `RCPT TO:<${to}>`)];
    return [
      ...lines.map((line) => `${r.next() < 0.1 ? mutate(r, line) : line}\r\n`),
      dataStream(r),
    ];
  }
  if (roll < 0.7) return [`${template(r)}\r\n`];
  if (roll < 0.9) return [`${mutate(r, template(r))}\r\n`];
  if (roll < 0.93) {
    let line = '';
    for (let i = r.int(100); i > 0; i--) line += String.fromCharCode(r.int(256));
    return [`${line}\r\n`];
  }
  return [dataStream(r)];
}

interface Batch {
  /** Sends before the greeting (an early talker). */
  early: boolean;
  items: string[];
}

/** A session fed a batch of items, pipelined; resolves when the connection is gone. */
function feed(port: number, batch: Batch): Promise<void> {
  const { early, items } = batch;
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.99' });
    const timer = setTimeout(() => socket.destroy(), 10_000);
    let greeted = false;
    const send = (): void => {
      for (const chunk of items) socket.write(Buffer.from(chunk, 'latin1'));
      // Ends a DATA left open, then the session; the server closes the connection (a
      // half-close from here would drop the commands still waiting for Redis).
      socket.write('\r\n.\r\nQUIT\r\n');
    };
    socket.on('connect', () => {
      if (early) send();
    });
    socket.on('data', () => {
      if (!greeted && !early) {
        greeted = true;
        send();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test(`${ITEMS} random and mutated command lines and DATA streams do not break the ingress`, async () => {
  // Everything random is drawn here, before any I/O, so a seed always means the same input.
  const r = generator(SEED);
  const batches: Batch[] = [];
  let fed = 0;
  while (fed < ITEMS) {
    const batch: string[] = [];
    if (r.next() < 0.8) batch.push('EHLO fuzz.example.test\r\n');
    for (let n = 5 + r.int(30); n > 0 && fed < ITEMS; ) {
      for (const one of items(r)) {
        batch.push(one);
        fed++;
        n--;
      }
    }
    batches.push({ early: r.next() < 0.03, items: batch });
  }
  const port = relay.ports.relay as number;
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < batches.length) {
        await feed(port, batches[next++] as Batch);
      }
    }),
  );
  assert.ok(fed >= ITEMS);

  // Every session was released, and the relay still does its job.
  await waitFor(
    'no open session',
    async () => (await relay.metric(METRICS.ingressActiveSessions)) === 0,
  );
  const info = await createTransport({ host: '127.0.0.1', port, ignoreTLS: true }).sendMail({
    envelope: { from: 'a@example.test', to: ['b@example.test'] },
    raw: message('after-fuzz'),
  });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
  assert.equal(
    relay.logs.some((line) => line.includes('smtp handler failed')),
    false,
    'a handler threw',
  );
  assert.ok((await relay.metric(METRICS.ingressSessions)) >= batches.length * 0.9);
  // The input reached the data path, both ways.
  assert.ok((await relay.metric(METRICS.ingressAccepted)) > 1);
  assert.ok((await relay.metric(METRICS.ingressRefused, { reason: 'smuggling' })) > 1);
});
