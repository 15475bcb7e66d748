/**
 * Local mode with a pool whose first IP is listed in the DNS blocklist of a DNS server on
 * loopback (the only resolver the relay is given): local mode says the IP is paused and
 * why, and every message goes out through the other IP.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { dnsblQueryName } from '@hikyaku/core/policy';
import { cliInvocation } from '@hikyaku/local';
import { freePort, startDnsServer, type TestDnsServer, waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';

const ZONE = 'bl.hikyaku.test';
let child: ChildProcess | undefined;
let dataDir: string | undefined;
let dns: TestDnsServer | undefined;

after(async () => {
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGINT');
    const timer = setTimeout(() => {
      if (child?.pid) process.kill(-child.pid, 'SIGKILL');
    }, 30_000);
    await exited;
    clearTimeout(timer);
  }
  await dns?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('a listed IP is reported and mail leaves through the other IP', {
  timeout: 180_000,
}, async () => {
  dns = await startDnsServer({
    records: { [dnsblQueryName('127.0.0.2', ZONE)]: { a: ['127.0.0.2'] } },
  });
  dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-local-rep-'));
  const smtpPort = await freePort();
  const sinkPort = await freePort();
  const poolFile = join(dataDir, 'pool.yaml');
  writeFileSync(
    poolFile,
    `apiVersion: hikyaku.io/v1alpha1
kind: RelayPool
metadata:
  name: listed-demo
spec:
  allowedNetworks: [127.0.0.0/8]
  ips:
    - address: 127.0.0.2
      hostname: mta1.hikyaku.test
    - address: 127.0.0.3
      hostname: mta2.hikyaku.test
  routes:
    - domains: [example.test]
      host: 127.0.0.1
      port: ${sinkPort}
  reputation:
    checkPrivateAddresses: true
    dnsbl:
      - zone: ${ZONE}
    fcrdns: 'off'
`,
  );
  const output: string[] = [];
  child = spawn(
    process.execPath,
    [...cliInvocation(), 'local', '--pool', poolFile, '--data-dir', dataDir],
    {
      env: {
        ...process.env,
        HIKYAKU_SMTP_PORT: String(smtpPort),
        HIKYAKU_DNS_SERVERS: dns.address,
        HIKYAKU_REPUTATION_DNS_SERVERS: dns.address,
        HIKYAKU_REPUTATION_TICK_MS: '200',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  child.stdout?.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  child.stderr?.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  const paused = await waitFor(
    () => `the paused line; output so far:\n${output.join('\n')}`,
    () => output.find((l) => l.startsWith('reputation: 127.0.0.2 paused')),
    { timeoutMs: 90_000 },
  );
  assert.match(paused, /listed on bl\.hikyaku\.test/);
  assert.ok(dns.queryCount(dnsblQueryName('127.0.0.2', ZONE), 'A') >= 1);

  const transport = createTransport({ host: '127.0.0.1', port: smtpPort, ignoreTLS: true });
  const count = 6;
  for (let i = 0; i < count; i++) {
    await transport.sendMail({
      from: 'app@hikyaku.test',
      to: `user${i}@example.test`,
      subject: `listed ${i}`,
      text: 'hello',
    });
  }
  transport.close();
  const captured = await waitFor(
    () => `${count} captured lines; output so far:\n${output.join('\n')}`,
    () => {
      const lines = output.filter((l) => l.startsWith('captured: '));
      return lines.length >= count ? lines : undefined;
    },
    { timeoutMs: 60_000 },
  );
  for (const line of captured) assert.match(line, /sent from 127\.0\.0\.3\)$/);
});
