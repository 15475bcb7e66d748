/**
 * The AUTH failure count is shared by every ingress replica through Redis: failures
 * answered by one replica count on another, a success on any of them clears the count, and
 * without Redis each replica still throttles on its own count.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { METRICS, REDIS_KEYS } from '@hikyaku/core';
import { createIngressMetrics, createSharedAuthThrottle } from '@hikyaku/ingress';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { makeCertificate, type TestCertificate } from './certs.ts';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { session } from './smtp-client.ts';

const PASSWORD = 'c0rrect-h0rse';
const FAILED = '535 5.7.8 Authentication credentials invalid';
const LOCKED = '421 4.7.0 Too many failed authentication attempts';
const AUTHENTICATED = '235 2.7.0 Authentication successful';
const LOCKOUT_MS = 600_000;
const GUESSES = ['guess-1', 'guess-2', 'guess-3', 'guess-4', 'guess-5'];

let infra: Infra;
let cert: TestCertificate;
let a: IngressUnderTest;
let b: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  cert = makeCertificate(infra.dir, 'auth-throttle');
  await infra.publish(
    await testPool('throttle', { submitters: [{ username: 'shop' }] }, { shop: PASSWORD }),
  );
  const env = {
    HIKYAKU_TLS_CERT_FILE: cert.certFile,
    HIKYAKU_TLS_KEY_FILE: cert.keyFile,
    HIKYAKU_AUTH_FAILURE_DELAY_MS: '20',
    HIKYAKU_AUTH_FAILURE_MAX_DELAY_MS: '80',
    HIKYAKU_AUTH_MAX_FAILURES: '3',
    HIKYAKU_AUTH_LOCKOUT_MS: String(LOCKOUT_MS),
  };
  a = await startIngressUnderTest(infra, { env, pools: ['test_throttle'] });
  b = await startIngressUnderTest(infra, { env, pools: ['test_throttle'] });
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await infra?.stop();
});

/** One session from `client` to a replica's 465, one AUTH PLAIN; its reply line. */
async function auth(replica: IngressUnderTest, client: string, password: string) {
  const smtp = await session({
    port: replica.ports.smtps as number,
    tls: true,
    localAddress: client,
  });
  const reply = await smtp.authPlain('shop', password);
  if (reply.code === 421) await smtp.closed;
  else await smtp.quit();
  return reply.line;
}

function assertNoPasswordLogged(replica: IngressUnderTest): void {
  const log = replica.logs.join('');
  for (const secret of [...GUESSES, PASSWORD]) {
    assert.equal(log.includes(secret), false, `the log contains a password: ${secret}`);
    assert.equal(log.includes(Buffer.from(`\0shop\0${secret}`).toString('base64')), false);
  }
}

test('failures answered by one replica count on the other, which locks the client out', async () => {
  const client = '127.0.0.91';
  assert.equal(await auth(a, client, 'guess-1'), FAILED);
  assert.equal(await auth(a, client, 'guess-2'), FAILED);
  // B has not seen this client fail: only the shared count can make this the last failure.
  assert.equal(await auth(b, client, 'guess-3'), LOCKED);
  assert.equal(await auth(b, client, PASSWORD), LOCKED);
  assert.equal(await auth(a, client, PASSWORD), LOCKED);

  const key = REDIS_KEYS.authFailures(client);
  assert.equal(await infra.redis.get(key), '3');
  const ttl = await infra.redis.pttl(key);
  assert.ok(ttl > 0 && ttl <= LOCKOUT_MS, `the count expires after the lockout: ${ttl}`);
  assert.equal(await b.metric(METRICS.ingressAuth, { result: 'failure' }), 1);
  assert.equal(await b.metric(METRICS.ingressAuth, { result: 'throttled' }), 1);
  for (const replica of [a, b]) {
    assert.equal(await replica.metric(METRICS.ingressPolicyErrors, { check: 'auth-throttle' }), 0);
    assertNoPasswordLogged(replica);
  }
});

test('a successful AUTH on one replica clears the count on every replica', async () => {
  const client = '127.0.0.92';
  const key = REDIS_KEYS.authFailures(client);
  assert.equal(await auth(a, client, 'guess-1'), FAILED);
  assert.equal(await auth(a, client, 'guess-2'), FAILED);
  assert.equal(await infra.redis.get(key), '2');
  assert.equal(await auth(b, client, PASSWORD), AUTHENTICATED);
  assert.equal(await infra.redis.exists(key), 0);
  // Two more failures, one on each replica, stay under the limit of three.
  assert.equal(await auth(a, client, 'guess-3'), FAILED);
  assert.equal(await auth(b, client, 'guess-4'), FAILED);
  assert.equal(await infra.redis.get(key), '2');
  assert.equal(await auth(a, client, PASSWORD), AUTHENTICATED);
});

test('failures on two replicas at the same moment are all counted', async () => {
  const address = '2001:db8:7:7::1';
  const throttles = [0, 1].map(() => {
    const redis = new Redis(infra.redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    const throttle = createSharedAuthThrottle({
      redis,
      options: { baseDelayMs: 1, maxDelayMs: 1, maxFailures: 100, lockoutMs: LOCKOUT_MS },
      timeoutMs: 5000,
      metrics: createIngressMetrics(new Registry()),
      log: pino({ level: 'silent' }),
    });
    return { redis, throttle };
  });
  try {
    const failures = await Promise.all(
      Array.from({ length: 40 }, (_, i) => throttles[i % 2]!.throttle.failure(address)),
    );
    assert.deepEqual(
      failures.map((f) => f.failures).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.equal(await infra.redis.get(REDIS_KEYS.authFailures('2001:db8:7:7::/64')), '40');
  } finally {
    for (const { redis } of throttles) redis.disconnect();
  }
});

test('without Redis each replica still throttles on its own count', async () => {
  const client = '127.0.0.93';
  await infra.stopRedis();
  try {
    assert.equal(await auth(a, client, 'guess-1'), FAILED);
    assert.equal(await auth(a, client, 'guess-2'), FAILED);
    assert.equal(await auth(a, client, 'guess-3'), LOCKED);
    assert.equal(await auth(a, client, PASSWORD), LOCKED);
    // B's own count starts from nothing: during an outage the limit applies per replica.
    assert.equal(await auth(b, client, 'guess-4'), FAILED);
    assert.ok((await a.metric(METRICS.ingressPolicyErrors, { check: 'auth-throttle' })) >= 4);
    assert.ok((await b.metric(METRICS.ingressPolicyErrors, { check: 'auth-throttle' })) >= 1);
    for (const replica of [a, b]) assertNoPasswordLogged(replica);
  } finally {
    await infra.startRedis();
  }
});
