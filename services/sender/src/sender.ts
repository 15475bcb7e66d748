/**
 * The sender of one pod: one durable consumer per IP the pool assigns to this pod, so a job
 * is only ever taken by the owner of its IP. Each job is one delivery attempt; its result is
 * handed to a scheduler (or stored in HIKYAKU_RESULTS) before the job is acknowledged. On shutdown the sender stops taking jobs, lets
 * transactions in progress finish until the deadline, and hands every unfinished job back
 * to JetStream (nak) for redelivery.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { rootCertificates } from 'node:tls';
import type { SourceReports } from '@hikyaku/core';
import {
  type BodyStore,
  bindsSourceAddress,
  CONSUMERS,
  type CompiledIp,
  type CompiledPool,
  type ConsumerLoop,
  codecs,
  createConsumerWatchdogMetrics,
  ensureConsumer,
  ipsOfPod,
  type Job,
  type JobResult,
  jobAckSubject,
  type Logger,
  MSG_IDS,
  type NatsHandles,
  NEWER_WIRE_VERSION_RETRY_MS,
  type PoolDirectory,
  STREAMS,
  SUBJECTS,
  startConsumerLoop,
  WireVersionError,
  wireVersionToWrite,
} from '@hikyaku/core';
import type { JsMsg } from '@nats-io/jetstream';
import type { Registry } from 'prom-client';
import type { SenderConfig } from './config.ts';
import { createConnections } from './connections.ts';
import { type DeliveryReport, deliverMessage, type MtaStsCheck } from './deliver.ts';
import { createDeliverySlots, type DeliverySlots } from './delivery-slots.ts';
import { createDkimKeyring } from './dkim/keyring.ts';
import { HandBackError, SourceAddressAbsentError } from './errors.ts';
import { DEFAULT_LIMITS, type LimitsLookup, limitsForPool } from './limits.ts';
import { createSenderMetrics, type IpLabels } from './metrics.ts';
import { createMtaStsDiscovery, type MtaStsDiscovery } from './mta-sts/discovery.ts';
import { outcomesForFailure } from './outcomes.ts';
import { createResultHandoff } from './result-handoff.ts';
import { createResultOutbox } from './result-outbox.ts';
import { createDnsCache } from './routing/dns-cache.ts';
import { createDnsClient } from './routing/dns-client.ts';
import {
  createMxResolver,
  type MxResolver,
  type ResolveOptions,
  type Route,
} from './routing/resolver.ts';
import { type Interfaces, isLocalAddress } from './source-address.ts';

export interface Sender {
  /** IPs this pod is consuming jobs for right now. */
  ips(): string[];
  /**
   * Stops taking jobs, waits for jobs in progress until `deadline` (ms since the epoch), then
   * hands back what is still unfinished and closes the connections.
   */
  stop(deadline?: number): Promise<void>;
}

/** Ack-wait of a job; a delivery in progress reports progress well within it. */
const JOB_ACK_WAIT_MS = 30_000;
/**
 * Jobs held per delivery slot of an IP (HIKYAKU_SENDER_CONCURRENCY): a delivered job keeps
 * its place among the held until the scheduler has recorded its result, and a job gathered
 * or waiting for a slot holds one too. Without room beyond the slots, that wait would leave
 * slots idle at about a thousand messages a second per IP (docs/performance.md).
 */
const JOBS_HELD_PER_SLOT = 2;
/** How long a reading of the pod's network interfaces is trusted. */
const INTERFACES_TTL_MS = 5_000;
const PROGRESS_EVERY_MS = 10_000;
/** Redelivery delay of a job whose pool is not known yet. */
const UNKNOWN_POOL_DELAY_MS = 5000;
/**
 * Redelivery delay of a job handed back, counted from the end of the shutdown's finishing
 * window. Not zero: JetStream could redeliver at once into this process's own pull request,
 * still open on the server while the process finishes other jobs, and the job would then
 * wait out the ack wait. Once the process is gone, the next owner of the IP gets it.
 */
const HAND_BACK_DELAY_MS = 1000;
/** Longest wait for receivers to answer QUIT when the sender stops. */
const CLOSE_WAIT_MS = 5000;

export async function startSender(deps: {
  config: SenderConfig;
  nats: NatsHandles;
  pools: PoolDirectory;
  bodies: BodyStore;
  log: Logger;
  registry: Registry;
  resolver?: MxResolver;
  interfaces?: () => Interfaces;
  /** Where an absent source address is reported for the pool's status. */
  reports?: SourceReports;
  now?: () => number;
}): Promise<Sender> {
  const { config, nats, pools, bodies, log } = deps;
  const now = deps.now ?? Date.now;
  const clock = { now };
  const readInterfaces = deps.interfaces ?? networkInterfaces;
  // Reading the interfaces is a system call per job otherwise; addresses come and go on
  // the scale of seconds (a pod's network being set up), not per message. Whether an IP is
  // among them is worked out once per reading.
  let reading: { at: number; value: Interfaces; present: Map<string, boolean> } | undefined;
  const onPod = (address: string): boolean => {
    const t = Date.now();
    if (!reading || t - reading.at > INTERFACES_TTL_MS) {
      reading = { at: t, value: readInterfaces(), present: new Map() };
    }
    let present = reading.present.get(address);
    if (present === undefined) {
      present = isLocalAddress(address, reading.value);
      reading.present.set(address, present);
    }
    return present;
  };
  const metrics = createSenderMetrics(deps.registry);
  const watchdogMetrics = createConsumerWatchdogMetrics(deps.registry);
  // One cached DNS client for routing and MTA-STS alike, so HIKYAKU_DNS_SERVERS governs both.
  const dns = createDnsCache(
    createDnsClient({
      timeoutMs: config.dnsTimeoutMs,
      tries: config.dnsTries,
      ...(config.dnsServers.length > 0 ? { servers: config.dnsServers } : {}),
    }),
    { clock },
  );
  const resolver = deps.resolver ?? createMxResolver({ dns, port: config.mxPort });
  // Passing `ca` replaces Node's default store, so the extra CA comes on top of it.
  const ca = config.tlsCaFile
    ? [...rootCertificates, readFileSync(config.tlsCaFile, 'utf8')]
    : undefined;
  const mtaSts: MtaStsDiscovery | undefined = config.mtaSts
    ? createMtaStsDiscovery({
        dns,
        clock,
        log,
        port: config.mtaStsPort,
        timeoutMs: config.mtaStsTimeoutMs,
        ...(ca ? { ca } : {}),
        onFailure: (f) =>
          metrics.mtaSts(
            config.pool,
            f.using,
            f.kind === 'invalid' ? 'invalid_policy' : 'fetch_failed',
          ),
      })
    : undefined;
  const connections = createConnections({
    idleMs: config.connectionIdleMs,
    session: {
      connectTimeoutMs: config.connectTimeoutMs,
      greetingTimeoutMs: config.greetingTimeoutMs,
      commandTimeoutMs: config.commandTimeoutMs,
      dataTimeoutMs: config.dataTimeoutMs,
      tlsVerify: config.tlsVerify,
      pipelining: config.smtpPipelining,
      ...(ca ? { ca } : {}),
    },
    onOpen: (source, session) =>
      metrics.connectionOpened(
        { pool: config.pool, ip: source.address },
        session.tls,
        session.closed,
      ),
  });
  const dkim = createDkimKeyring({ log, clock });
  const wireVersion = await wireVersionToWrite(config.wireVersion, nats.js, log);
  const outbox = createResultOutbox({
    log,
    handOff: createResultHandoff({
      nc: nats.nc,
      timeoutMs: config.resultHandoffTimeoutMs,
      wireVersion,
      log,
      onOutcome: (pool, outcome) => metrics.resultHandoff(pool, outcome),
    }),
    publish: async (result) => {
      await nats.js.publish(
        SUBJECTS.result(result.job.delivery.pool),
        codecs.result.encode(result, wireVersion),
        { msgID: MSG_IDS.result(result.job.jobId) },
      );
    },
    onFailure: (result) => metrics.resultNotStored(result.job.delivery.pool),
  });
  const loops = new Map<string, ConsumerLoop>();
  const inFlight = new Set<AbortController>();
  /**
   * Jobs being worked on. One timer reports progress for all of them, instead of one timer
   * set and cleared per job: each job then reports within PROGRESS_EVERY_MS of its start
   * and every PROGRESS_EVERY_MS after, well within its ack wait.
   */
  const working = new Set<JsMsg>();
  let progress: NodeJS.Timeout | undefined;
  const reportProgress = (): void => {
    for (const msg of working) msg.working();
  };
  const slotsByIp = new Map<string, DeliverySlots>();
  const slotsOf = (address: string): DeliverySlots => {
    let slots = slotsByIp.get(address);
    if (!slots) {
      slots = createDeliverySlots(config.concurrencyPerIp);
      slotsByIp.set(address, slots);
    }
    return slots;
  };
  const limitsByPool = new WeakMap<CompiledPool, LimitsLookup>();
  const absentIps = new Set<string>();
  let stopping = false;
  /** When jobs still in progress are handed back (ms since the epoch), once stopping. */
  let stopDeadline = 0;

  function limitsOf(pool: CompiledPool): LimitsLookup {
    let lookup = limitsByPool.get(pool);
    if (!lookup) {
      try {
        lookup = limitsForPool(pool);
      } catch (err) {
        log.error({ err, pool: pool.key }, 'rate policies do not resolve; using the defaults');
        lookup = () => DEFAULT_LIMITS;
      }
      limitsByPool.set(pool, lookup);
    }
    return lookup;
  }

  const routingByPool = new WeakMap<CompiledPool, Map<string, ResolveOptions>>();

  /** How jobs of an IP are routed: the same for every job until the pool changes. */
  function routingOf(pool: CompiledPool, address: string): ResolveOptions {
    let byAddress = routingByPool.get(pool);
    if (!byAddress) {
      byAddress = new Map();
      routingByPool.set(pool, byAddress);
    }
    let options = byAddress.get(address);
    if (!options) {
      const family = isIP(address) === 6 ? 6 : 4;
      options = {
        routes: pool.routes,
        family,
        poolHasOtherFamily: pool.ips.some((other) => isIP(other.address) !== family),
      };
      byAddress.set(address, options);
    }
    return options;
  }

  /** What the absent-address gauge shows per IP, so that it is set only when it changes. */
  const shownAbsent = new Map<string, boolean>();

  /** Whether the address is on this pod; a change either way is reported once. */
  function sourcePresent(labels: IpLabels): boolean {
    const present = onPod(labels.ip);
    if (shownAbsent.get(labels.ip) !== !present) {
      shownAbsent.set(labels.ip, !present);
      metrics.sourceAbsent(labels, !present);
    }
    if (present && absentIps.delete(labels.ip)) {
      log.info({ ip: labels.ip }, 'source address is present now');
      deps.reports?.clearAbsent(labels.pool, labels.ip).catch((err: unknown) => {
        log.warn({ err, ip: labels.ip }, 'could not clear the absent-address report');
      });
    } else if (!present && !absentIps.has(labels.ip)) {
      absentIps.add(labels.ip);
      log.error(
        { ip: labels.ip, pod: config.podName, code: 'HIKYAKU_SOURCE_IP_ABSENT' },
        'assigned source address is not present on this pod; its jobs are deferred',
      );
      deps.reports
        ?.reportAbsent(labels.pool, { address: labels.ip, pod: config.podName, since: now() })
        .catch((err: unknown) => {
          log.warn({ err, ip: labels.ip }, 'could not report the absent address');
        });
    }
    return present;
  }

  /**
   * The MTA-STS policy to apply to a route: MX routes (and the implicit MX, the domain as its
   * own mail host) only — a static route or smarthost is the operator's choice of next hop,
   * and an address literal names no host to verify.
   */
  const mtaStsApplies = (route: Route): boolean =>
    mtaSts !== undefined && (route.source === 'mx' || route.source === 'implicit-mx');
  async function mtaStsFor(route: Route): Promise<MtaStsCheck | undefined> {
    if (!mtaSts || !mtaStsApplies(route)) return undefined;
    const known = await mtaSts.policyFor(route.domain);
    if (!known || known.policy.mode === 'none') return undefined;
    return { mode: known.policy.mode, mx: known.policy.mx };
  }

  /** Counts what MTA-STS did, and logs hosts it refused (enforce) or would have (testing). */
  function reportMtaSts(pool: string, domain: string, report: DeliveryReport): void {
    const sts = report.mtaSts;
    if (!sts) return;
    for (const result of sts.results) metrics.mtaSts(pool, sts.mode, result);
    for (const { host, reason } of sts.refused) {
      log.warn(
        { domain, host, reason, mode: sts.mode, code: 'HIKYAKU_MTA_STS_FAILED' },
        sts.mode === 'enforce'
          ? 'MX host does not meet the MTA-STS policy; skipped'
          : 'MX host does not meet the MTA-STS policy in testing mode; delivered anyway',
      );
    }
  }

  async function attempt(
    job: Job,
    pool: CompiledPool,
    ip: CompiledIp,
    signal: AbortSignal,
  ): Promise<DeliveryReport> {
    const labels = { pool: pool.key, ip: ip.address };
    const declared = limitsOf(pool)(job.policy);
    // The scheduler learned that this destination takes fewer connections from the IP.
    const limits =
      job.connections !== undefined && job.connections < declared.connections
        ? { ...declared, connections: job.connections }
        : declared;
    try {
      const binds = bindsSourceAddress(pool);
      if (binds && !sourcePresent(labels)) {
        throw new SourceAddressAbsentError(ip.address, config.podName);
      }
      const { delivery } = job;
      const body = await bodies.get(delivery.id, delivery.body);
      const message = await dkim.sign(
        Buffer.from(body.buffer, body.byteOffset, body.byteLength),
        delivery.from,
      );
      const route = await resolver.resolve(delivery.domain, routingOf(pool, ip.address));
      // Most routes are not subject to MTA-STS: no promise to wait for then.
      const sts = mtaStsApplies(route) ? await mtaStsFor(route) : undefined;
      const report = await deliverMessage({
        job,
        source: { address: ip.address, hostname: ip.hostname, bind: binds },
        message,
        route,
        limits,
        connections,
        signal,
        now,
        onTransaction: (t) => metrics.transaction(labels, job.policy, t.seconds),
        ...(sts ? { mtaSts: sts } : {}),
      });
      reportMtaSts(pool.key, route.domain, report);
      return report;
    } catch (err) {
      if (err instanceof HandBackError) throw err;
      // Routing, signing, a missing body, an absent source address: one outcome per recipient.
      return { outcomes: outcomesForFailure(job.delivery.rcpts, err) };
    }
  }

  const handBackDelay = (): number =>
    Math.max(HAND_BACK_DELAY_MS, stopDeadline - now() + HAND_BACK_DELAY_MS);

  async function handleJob(msg: JsMsg, address: string): Promise<void> {
    let job: Job;
    try {
      job = codecs.job.decode(msg.data);
    } catch (err) {
      if (err instanceof WireVersionError) {
        // Written by a newer release: a pod of that release will take it.
        log.warn({ code: err.code, subject: msg.subject }, err.message);
        msg.nak(NEWER_WIRE_VERSION_RETRY_MS);
        return;
      }
      log.error({ err, subject: msg.subject }, 'dropping malformed job');
      // Acknowledged, not terminated: see rejectMalformed in the scheduler.
      msg.ack();
      return;
    }
    const pool = pools.get(job.delivery.pool);
    if (!pool) {
      msg.nak(UNKNOWN_POOL_DELAY_MS);
      return;
    }
    if (stopping) {
      msg.nak(handBackDelay());
      return;
    }
    // The pool as it is now names the hostname (a pool change may have renamed it); an IP
    // just removed from the pool EHLOs with its address literal (RFC 5321 §4.1.3).
    const ip = pool.ips.find((i) => i.address === address) ?? {
      address,
      hostname: isIP(address) === 6 ? `[IPv6:${address}]` : `[${address}]`,
    };
    const labels = { pool: pool.key, ip: address };
    const abort = new AbortController();
    inFlight.add(abort);
    // Progress covers the whole job: waiting to deliver, delivering, storing the result.
    working.add(msg);
    progress ??= setInterval(reportProgress, PROGRESS_EVERY_MS);
    const done = metrics.jobStarted(labels);
    try {
      const delivered = outbox.pending(job.jobId);
      if (delivered) {
        // Delivered by this process before; only its result is missing.
        if ((await outbox.store(delivered, abort.signal, jobAckSubject(msg))) !== 'acked')
          msg.ack();
        return;
      }
      const release = await slotsOf(address).acquire(abort.signal);
      let startedAt: number;
      let report: DeliveryReport;
      try {
        // Checked once the slot is given: a job waiting for it while an earlier job's result
        // failed to be stored must not start a delivery whose result could not be stored either.
        if (outbox.failing) await outbox.whenStoring(abort.signal, () => stopping);
        startedAt = now();
        metrics.attempt(labels, job.policy);
        report = await attempt(job, pool, ip, abort.signal);
      } finally {
        release();
      }
      const result: JobResult = {
        job,
        outcomes: report.outcomes,
        startedAt,
        finishedAt: now(),
        ...(report.tls ? { tls: report.tls } : {}),
      };
      metrics.outcomes(labels, job.policy, report.outcomes);
      // A scheduler that recorded the handed-off result acknowledges the job itself.
      if ((await outbox.store(result, abort.signal, jobAckSubject(msg))) !== 'acked') msg.ack();
    } catch (err) {
      if (!(err instanceof HandBackError)) throw err;
      metrics.handedBack(labels);
      log.info({ jobId: job.jobId, ip: address, reason: err.message }, 'job handed back');
      msg.nak(handBackDelay());
    } finally {
      working.delete(msg);
      inFlight.delete(abort);
      done();
    }
  }

  async function startIp(pool: CompiledPool, ip: CompiledIp): Promise<void> {
    const durable = CONSUMERS.senderJobs(pool.key, ip.address);
    const held = config.concurrencyPerIp * JOBS_HELD_PER_SLOT;
    await ensureConsumer(nats.jsm, STREAMS.jobs, durable, {
      filterSubject: SUBJECTS.job(pool.key, ip.address),
      ackWaitMs: JOB_ACK_WAIT_MS,
      // Exactly as many jobs as are held: a job handed out beyond them would wait in the
      // client's buffer without reporting progress, outlive its ack wait behind a slow
      // receiver and be delivered a second time.
      maxAckPending: held,
    });
    const loop = await startConsumerLoop({
      js: nats.js,
      stream: STREAMS.jobs,
      durable,
      concurrency: held,
      gatherMs: config.gatherMs,
      log: log.child({ ip: ip.address }),
      handle: (msg) => handleJob(msg, ip.address),
      watchdog: {
        jsm: nats.jsm,
        subject: SUBJECTS.job(pool.key, ip.address),
        intervalMs: config.consumerWatchdogMs,
        recreated: () => watchdogMetrics.recreated(STREAMS.jobs, durable),
      },
    });
    loops.set(ip.address, loop);
    log.info({ ip: ip.address, hostname: ip.hostname }, 'sending from ip');
    // Reported at once, not only when the first job comes; each job is deferred with it.
    // Behind an egress gateway the address is not on the pod, by design.
    if (bindsSourceAddress(pool)) sourcePresent({ pool: pool.key, ip: ip.address });
  }

  /** Follows the pool: start consumers for new IPs, stop them for moved ones, reload keys. */
  async function reconcile(pool: CompiledPool): Promise<void> {
    if (stopping) return;
    await dkim.load(pool.dkim);
    const mine = ipsOfPod(pool, config.podName);
    const wanted = new Set(mine.map((ip) => ip.address));
    for (const [address, loop] of loops) {
      if (!wanted.has(address)) {
        loops.delete(address);
        await loop.stop();
        log.info({ ip: address }, 'ip no longer assigned to this pod');
      }
    }
    for (const ip of mine) if (!loops.has(ip.address)) await startIp(pool, ip);
  }

  const pool = await pools.waitFor(config.pool, 30_000);
  await reconcile(pool);
  let chain = Promise.resolve();
  pools.onChange((next, key) => {
    if (!next || key !== config.pool) return;
    chain = chain
      .then(() => reconcile(next))
      .catch((err: unknown) => {
        log.error({ err }, 'could not follow the pool');
      });
  });

  return {
    ips: () => [...loops.keys()],
    async stop(deadline = Number.POSITIVE_INFINITY) {
      stopping = true;
      stopDeadline = Number.isFinite(deadline) ? deadline : now();
      const handBack = new HandBackError('the sender is shutting down');
      // Jobs waiting for a slot or a connection have not started a transaction: they go
      // back now.
      for (const slots of slotsByIp.values()) slots.drain(handBack);
      connections.drain(handBack);
      const stopped = Promise.all([...loops.values()].map((l) => l.stop()));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        if (Number.isFinite(deadline)) {
          timer = setTimeout(() => resolve('late'), Math.max(0, deadline - now()));
        }
      });
      const outcome = await Promise.race([stopped.then(() => 'done' as const), late]);
      clearTimeout(timer);
      if (outcome === 'late') {
        log.warn({ jobs: inFlight.size }, 'grace period over; handing back unfinished jobs');
        for (const abort of inFlight) abort.abort(handBack);
        await stopped;
      }
      loops.clear();
      clearInterval(progress);
      // QUIT politely while time is left; a receiver that does not answer is not waited for.
      const left = Number.isFinite(deadline) ? Math.max(0, deadline - now()) : CLOSE_WAIT_MS;
      let closeTimer: NodeJS.Timeout | undefined;
      await Promise.race([
        connections.close(handBack),
        new Promise<void>((resolve) => {
          closeTimer = setTimeout(resolve, Math.min(left, CLOSE_WAIT_MS));
        }),
      ]);
      clearTimeout(closeTimer);
      resolver.close();
      dns.close();
    },
  };
}
