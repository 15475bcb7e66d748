/**
 * The data path of each egress mode over real interfaces: sender processes run in network
 * namespaces of their own, as pods do, and deliver to a receiver in another namespace, which
 * reports the source address and the EHLO name of every message.
 *
 * - multus: each sender namespace holds its pod's address on a secondary interface (what
 *   Multus gives a pod); two pods, one IP each.
 * - hostNetwork: one namespace holds several addresses (a node with its IPs); the sender
 *   must bind each job to the job's IP.
 * - gateway: the senders' namespaces hold only pod addresses; their traffic leaves through a
 *   gateway namespace that holds the pool's IPs and translates each pod's address to its own
 *   IP with nftables source NAT, as Cilium's or Calico's egress gateways do.
 *
 * Control traffic (NATS) runs over a bridge between the test and the sender namespaces; all
 * addresses are private 10.231.0.0/16 ones on links the test creates and removes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type BodyStore,
  type CompiledPool,
  codecs,
  compilePool,
  connectNats,
  createBodyStore,
  DEFAULT_LAYOUT,
  ensureStreams,
  type Job,
  type JobResult,
  METRICS,
  type NatsHandles,
  openPoolBucket,
  publishPool,
  type RelayPoolSpec,
  SUBJECTS,
} from '@hikyaku/core';
import { cliInvocation } from '@hikyaku/local';
import { type ChildServer, freePort, startNatsServer, waitFor } from '@hikyaku/testing';
import { publishJob, type Seen, startReceiverProcess } from './jobs.ts';
import { createNetns, type Netns, netnsUnavailable, snatUnavailable } from './netns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECEIVER = fileURLToPath(new URL('./receiver-main.ts', import.meta.url));
const unavailable = netnsUnavailable();
const snatMissing = unavailable ? undefined : snatUnavailable();

const id = String(process.pid % 10_000);
const ns = (role: string) => `hk${id}${role}`;
/** The control network between the test and the senders: one /24 per run, by process id. */
const CONTROL = `10.231.${200 + (process.pid % 50)}`;
const RECEIVER_ADDRESS = '10.231.10.1';
const RECEIVER_PORT = 2525;

interface Sender {
  /** The sender namespace's index: its control address is `${CONTROL}.${10 + index}`. */
  index: number;
  ns: string;
  pool: string;
  pod: string;
}

/** The pod addresses of the gateway case and the pool IP the gateway translates each to. */
const GATEWAY_PODS = [
  { index: 4, role: 'g', pod: 'gateway-s0-0', address: '10.231.20.2', ip: '10.231.10.41' },
  { index: 5, role: 'k', pod: 'gateway-s1-0', address: '10.231.20.3', ip: '10.231.10.42' },
];

describe('egress data path in network namespaces', { skip: unavailable }, () => {
  let net: Netns;
  let dataDir: string;
  let nats: ChildServer;
  let admin: NatsHandles;
  let bodies: BodyStore;
  let receiver: ChildProcess;
  const children: ChildProcess[] = [];
  const seen: Seen[] = [];
  const results: JobResult[] = [];
  const pools = new Map<string, CompiledPool>();

  /** A sender namespace: an egress link to the receiver's bridge and a control link. */
  function senderNamespace(index: number, role: string, addresses: string[]): string {
    const name = ns(role);
    net.addNamespace(name);
    net.addVeth(
      { ns: name, name: 'c0', addresses: [`${CONTROL}.${10 + index}/24`] },
      { ns: ns('n'), name: `c${index}` },
    );
    net.ip(['link', 'set', `c${index}`, 'master', 'br0'], ns('n'));
    if (addresses.length > 0) {
      net.addVeth({ ns: name, name: 'e0', addresses }, { ns: ns('r'), name: `p${index}` });
      net.ip(['link', 'set', `p${index}`, 'master', 'br0'], ns('r'));
    }
    return name;
  }

  /**
   * Gateway mode: the pod namespaces hold only their pod addresses, on a bridge in the
   * gateway namespace; the gateway holds the pool's IPs on its link to the receiver and
   * translates each pod's address to its own IP. The receiver has no route back to the pod
   * network, so only a translated connection can be answered.
   */
  function gatewayNetwork(): void {
    const gateway = ns('w');
    net.addNamespace(gateway);
    net.ip(['link', 'add', 'br0', 'type', 'bridge'], gateway);
    net.ip(['addr', 'add', '10.231.20.1/24', 'dev', 'br0'], gateway);
    net.ip(['link', 'set', 'br0', 'up'], gateway);
    for (const pod of GATEWAY_PODS) {
      const name = senderNamespace(pod.index, pod.role, []);
      net.addVeth(
        { ns: name, name: 'e0', addresses: [`${pod.address}/24`] },
        { ns: gateway, name: `g${pod.index}` },
      );
      net.ip(['link', 'set', `g${pod.index}`, 'master', 'br0'], gateway);
      net.ip(['route', 'add', '10.231.10.0/24', 'via', '10.231.20.1'], name);
    }
    net.addVeth(
      { ns: gateway, name: 'x0', addresses: GATEWAY_PODS.map((p) => `${p.ip}/24`) },
      { ns: ns('r'), name: 'p4' },
    );
    net.ip(['link', 'set', 'p4', 'master', 'br0'], ns('r'));
    const [bin, ...args] = net.exec(gateway, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const forwarding = spawnSync(bin as string, args, { encoding: 'utf8' });
    if (forwarding.status !== 0) throw new Error(`sysctl: ${forwarding.stderr.trim()}`);
    const snat = GATEWAY_PODS.map(
      (p) => `    oifname "x0" ip saddr ${p.address} snat to ${p.ip}`,
    ).join('\n');
    net.nft(
      gateway,
      `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
${snat}
  }
}
`,
    );
  }

  function compile(name: string, spec: RelayPoolSpec, assignment: Record<string, string>) {
    const pool = compilePool(
      {
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        metadata: { name, namespace: 'netns' },
        spec,
      },
      { assignment },
    );
    pools.set(name, pool);
    return pool;
  }

  function startSender(s: Sender): void {
    const pool = pools.get(s.pool);
    assert.ok(pool);
    const env = {
      PATH: process.env.PATH ?? '',
      NATS_URL: nats.url,
      HIKYAKU_POOL: pool.key,
      HIKYAKU_POD_NAME: s.pod,
      // On the control link, where the test reads the sender's metrics.
      HIKYAKU_HTTP_HOST: `${CONTROL}.${10 + s.index}`,
      HIKYAKU_HTTP_PORT: '9103',
      HIKYAKU_LOG_LEVEL: process.env.HIKYAKU_TEST_LOG_LEVEL ?? 'silent',
    };
    const [bin, ...args] = net.exec(s.ns, [process.execPath, ...cliInvocation(), 'sender']);
    const child = spawn(bin as string, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
  }

  /** The sender's `hikyaku_sender_source_ip_absent` value for `ip`, undefined without one. */
  async function sourceAbsentGauge(index: number, ip: string): Promise<string | undefined> {
    const response = await fetch(`http://${CONTROL}.${10 + index}:9103/metrics`);
    assert.equal(response.status, 200);
    const line = (await response.text())
      .split('\n')
      .find((l) => l.startsWith(`${METRICS.senderSourceIpAbsent}{`) && l.includes(`ip="${ip}"`));
    return line?.split(' ').at(-1);
  }

  const submit = (pool: CompiledPool, ip: string, rcpt: string) =>
    publishJob(admin, bodies, pool, ip, rcpt);

  async function delivered(job: Job): Promise<Seen> {
    const result = await waitFor(
      `the result of the job for ${job.delivery.rcpts[0]} from ${job.ip}`,
      () => results.find((r) => r.job.jobId === job.jobId),
      { timeoutMs: 60_000 },
    );
    assert.deepEqual(
      result.outcomes.map((o) => o.status),
      ['delivered'],
      JSON.stringify(result.outcomes),
    );
    return waitFor(`the receiver to see ${job.delivery.rcpts[0]}`, () =>
      seen.find((s) => s.rcpts.includes(job.delivery.rcpts[0] as string)),
    );
  }

  before(async () => {
    net = createNetns();
    dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-netns-'));
    try {
      // The receiver's bridge is the egress network every sender namespace is linked to.
      net.addNamespace(ns('r'));
      net.ip(['link', 'add', 'br0', 'type', 'bridge'], ns('r'));
      net.ip(['addr', 'add', `${RECEIVER_ADDRESS}/24`, 'dev', 'br0'], ns('r'));
      net.ip(['link', 'set', 'br0', 'up'], ns('r'));
      // The control bridge, with one link to the test's own namespace, where NATS listens.
      net.addNamespace(ns('n'));
      net.ip(['link', 'add', 'br0', 'type', 'bridge'], ns('n'));
      net.ip(['link', 'set', 'br0', 'up'], ns('n'));
      net.addVeth(
        { name: `hk${id}c`, addresses: [`${CONTROL}.1/24`] },
        { ns: ns('n'), name: 'up0' },
      );
      net.ip(['link', 'set', 'up0', 'master', 'br0'], ns('n'));

      senderNamespace(1, 'a', ['10.231.10.11/24']);
      senderNamespace(2, 'b', ['10.231.10.12/24']);
      senderNamespace(3, 'h', ['10.231.10.21/24', '10.231.10.22/24']);
      if (!snatMissing) gatewayNetwork();

      nats = await startNatsServer({
        port: await freePort(`${CONTROL}.1`),
        host: `${CONTROL}.1`,
        dataDir: join(dataDir, 'nats'),
      });
      admin = await connectNats({ url: nats.url, name: 'netns-test' });
      await ensureStreams(admin.jsm, DEFAULT_LAYOUT);
      bodies = await createBodyStore({
        js: admin.js,
        jsm: admin.jsm,
        replicas: 1,
        maxAgeMs: 3600_000,
      });
      const routes = [{ domains: ['*'], host: RECEIVER_ADDRESS, port: RECEIVER_PORT }];
      const kv = await openPoolBucket(admin.js);
      const specs: [string, RelayPoolSpec, Record<string, string>][] = [
        [
          'multus',
          {
            egress: { mode: 'multus', multus: { network: 'egress-net', ipv4PrefixLength: 24 } },
            ips: [
              { address: '10.231.10.11', hostname: 'mta11.netns.test' },
              { address: '10.231.10.12', hostname: 'mta12.netns.test' },
            ],
            routes,
          },
          { '10.231.10.11': 'multus-s0-0', '10.231.10.12': 'multus-s1-0' },
        ],
        [
          'hostnet',
          {
            egress: { mode: 'hostNetwork' },
            senders: { ipsPerPod: 2 },
            ips: [
              { address: '10.231.10.21', hostname: 'mta21.netns.test', node: 'egress-a' },
              { address: '10.231.10.22', hostname: 'mta22.netns.test', node: 'egress-a' },
            ],
            routes,
          },
          { '10.231.10.21': 'hostnet-s0-0', '10.231.10.22': 'hostnet-s0-0' },
        ],
      ];
      if (!snatMissing) {
        specs.push([
          'gateway',
          {
            egress: { mode: 'gateway' },
            ips: GATEWAY_PODS.map((p) => ({
              address: p.ip,
              hostname: `mta${p.ip.split('.')[3]}.netns.test`,
            })),
            routes,
          },
          Object.fromEntries(GATEWAY_PODS.map((p) => [p.ip, p.pod])),
        ]);
      }
      for (const [name, spec, assignment] of specs) {
        const pool = compile(name, spec, assignment);
        await publishPool(kv, pool);
        const sub = admin.nc.subscribe(SUBJECTS.result(pool.key));
        (async () => {
          for await (const m of sub) results.push(codecs.result.decode(m.data));
        })().catch(() => undefined);
      }

      receiver = await startReceiverProcess(
        net.exec(ns('r'), [
          process.execPath,
          '--import',
          'tsx',
          RECEIVER,
          '0.0.0.0',
          String(RECEIVER_PORT),
        ]),
        ROOT,
        seen,
      );
      children.push(receiver);

      const senders: Sender[] = [
        { index: 1, ns: ns('a'), pool: 'multus', pod: 'multus-s0-0' },
        { index: 2, ns: ns('b'), pool: 'multus', pod: 'multus-s1-0' },
        { index: 3, ns: ns('h'), pool: 'hostnet', pod: 'hostnet-s0-0' },
      ];
      if (!snatMissing) {
        for (const p of GATEWAY_PODS) {
          senders.push({ index: p.index, ns: ns(p.role), pool: 'gateway', pod: p.pod });
        }
      }
      for (const s of senders) startSender(s);
    } catch (err) {
      for (const child of children) child.kill('SIGKILL');
      net.destroy();
      throw err;
    }
  });

  after(async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    await admin?.nc.close();
    await nats?.stop();
    net?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('multus: each pod sends from the address on its secondary interface', async () => {
    const pool = pools.get('multus') as CompiledPool;
    const jobs = await Promise.all([
      submit(pool, '10.231.10.11', 'm11@dest.test'),
      submit(pool, '10.231.10.12', 'm12@dest.test'),
    ]);
    const views = await Promise.all(jobs.map(delivered));
    assert.deepEqual(
      views.map((v) => [v.peer, v.ehlo]),
      [
        ['10.231.10.11', 'mta11.netns.test'],
        ['10.231.10.12', 'mta12.netns.test'],
      ],
    );
  });

  it('hostNetwork: one namespace with two addresses binds each job to its own', async () => {
    const pool = pools.get('hostnet') as CompiledPool;
    const jobs = await Promise.all([
      submit(pool, '10.231.10.21', 'h21a@dest.test'),
      submit(pool, '10.231.10.22', 'h22a@dest.test'),
      submit(pool, '10.231.10.21', 'h21b@dest.test'),
      submit(pool, '10.231.10.22', 'h22b@dest.test'),
    ]);
    const views = await Promise.all(jobs.map(delivered));
    assert.deepEqual(
      views.map((v) => [v.rcpts[0], v.peer, v.ehlo]),
      [
        ['h21a@dest.test', '10.231.10.21', 'mta21.netns.test'],
        ['h22a@dest.test', '10.231.10.22', 'mta22.netns.test'],
        ['h21b@dest.test', '10.231.10.21', 'mta21.netns.test'],
        ['h22b@dest.test', '10.231.10.22', 'mta22.netns.test'],
      ],
    );
  });

  it('gateway: each pod leaves through the gateway translated to its own IP, named after it', {
    skip: snatMissing,
  }, async () => {
    const pool = pools.get('gateway') as CompiledPool;
    const jobs = await Promise.all([
      submit(pool, '10.231.10.41', 'g41a@dest.test'),
      submit(pool, '10.231.10.42', 'g42a@dest.test'),
      submit(pool, '10.231.10.41', 'g41b@dest.test'),
      submit(pool, '10.231.10.42', 'g42b@dest.test'),
    ]);
    const views = await Promise.all(jobs.map(delivered));
    assert.deepEqual(
      views.map((v) => [v.rcpts[0], v.peer, v.ehlo]),
      [
        ['g41a@dest.test', '10.231.10.41', 'mta41.netns.test'],
        ['g42a@dest.test', '10.231.10.42', 'mta42.netns.test'],
        ['g41b@dest.test', '10.231.10.41', 'mta41.netns.test'],
        ['g42b@dest.test', '10.231.10.42', 'mta42.netns.test'],
      ],
    );
  });

  it('source check: a binding sender reports its address present; behind a gateway it claims nothing', {
    skip: snatMissing,
  }, async () => {
    // The multus pod holds its address and says so; the gateway pod does not hold its IP
    // (the gateway does), and a sender there cannot see what the receiver sees, so it
    // reports neither present nor absent rather than a false SourceAddressAbsent.
    assert.equal(await sourceAbsentGauge(1, '10.231.10.11'), '0');
    assert.equal(await sourceAbsentGauge(4, '10.231.10.41'), undefined);
    assert.equal(await sourceAbsentGauge(5, '10.231.10.42'), undefined);
  });

  it('no message left the namespaces from any other address', () => {
    const allowed = new Set([
      '10.231.10.11',
      '10.231.10.12',
      '10.231.10.21',
      '10.231.10.22',
      '10.231.10.41',
      '10.231.10.42',
    ]);
    for (const s of seen) assert.ok(allowed.has(s.peer), s.peer);
  });
});
