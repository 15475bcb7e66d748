/**
 * The status a pool should show: a pure function of what the last reconcile found. The
 * three conditions follow metav1.Condition: a condition keeps its lastTransitionTime while
 * its status stays the same, so `kubectl get` shows how long a pool has been Ready, or not.
 *
 * - Ready: the policy of this generation is published and every sender pod is ready.
 * - Progressing: senders are rolling out, or removed IPs are draining.
 * - Degraded: something needs a human: a Secret, a key, a spec the operator cannot
 *   compile, an IP another pool holds, an IP whose node is gone or cordoned, an assigned
 *   IP missing on its pod, a sender domain over its complaint rate, Redis out of reach, or
 *   senders that stay unready.
 */
import { REASONS, type Reason } from '../errors.ts';
import type {
  ConditionStatus,
  IpStatusRow,
  PoolCondition,
  RelayPoolStatus,
} from '../kube/objects.ts';

export interface SendersState {
  desired: number;
  ready: number;
  /** The StatefulSet controller has seen the latest spec and updated every pod. */
  upToDate: boolean;
}

export interface DrainingIp {
  address: string;
  /** Jobs still queued for it. */
  jobs: number;
}

export interface UnassignableIp {
  address: string;
  why: string;
}

export interface StatusInput {
  generation: number;
  now: number;
  previous: Partial<RelayPoolStatus> | undefined;
  /** What stopped this reconcile, if anything. */
  problem?: { reason: Reason; message: string };
  /** Absent while the StatefulSet does not exist. */
  senders?: SendersState;
  draining: readonly DrainingIp[];
  unassignable: readonly UnassignableIp[];
  /** Assigned IPs their sender pod reported as not present on it. */
  absentSources?: readonly { address: string; pod: string }[];
  /** IPs whose node cannot run their sender pod (egress mode hostNetwork), and why. */
  nodeUnavailable?: readonly UnassignableIp[];
  /** Sender domains over their complaint guard's warning or stop line, or held. */
  complaints?: readonly {
    domain: string;
    level: 'warn' | 'stop';
    rate: number;
    held: boolean;
  }[];
  /** Submitters over their complaint guard's warning or stop line, or held. */
  submitterComplaints?: readonly {
    submitter: string;
    level: 'warn' | 'stop';
    rate: number;
    held: boolean;
  }[];
  /** Why the IP counters could not be read from Redis, when they could not. */
  redisUnreachable?: string;
  rows: readonly IpStatusRow[];
  totalIps: number;
  sendersReadyTimeoutMs: number;
}

/** metav1.Time: RFC 3339 in whole seconds. */
export function metaTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function condition(
  input: StatusInput,
  type: PoolCondition['type'],
  status: ConditionStatus,
  reason: Reason,
  message: string,
): PoolCondition {
  const before = input.previous?.conditions?.find((c) => c.type === type);
  const since =
    before && before.status === status ? before.lastTransitionTime : metaTime(input.now);
  return {
    type,
    status,
    observedGeneration: input.generation,
    lastTransitionTime: since,
    reason,
    message,
  };
}

function list(items: readonly string[]): string {
  if (items.length <= 3) return items.join(', ');
  return `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}

function sendersMessage(s: SendersState | undefined): string {
  if (!s) return 'the sender StatefulSet is being created';
  const base = `${s.ready}/${s.desired} sender pods ready`;
  return s.upToDate ? base : `${base}, rollout in progress`;
}

function sendersReady(s: SendersState | undefined): boolean {
  if (!s) return false;
  return s.upToDate && s.ready >= s.desired && s.desired > 0;
}

/** How long Ready has been False for SendersNotReady, in ms; 0 when it is not. */
function unreadyFor(input: StatusInput): number {
  const ready = input.previous?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'False' || ready.reason !== REASONS.SendersNotReady) return 0;
  return input.now - Date.parse(ready.lastTransitionTime);
}

/** Every IP of the pool is paused by the reputation guard: nothing can send. */
function allPaused(rows: readonly IpStatusRow[]): boolean {
  return rows.length > 0 && rows.every((r) => r.reputation?.condition === 'Paused');
}

function conditions(input: StatusInput): PoolCondition[] {
  const { problem, senders, draining, unassignable } = input;
  if (problem) {
    return [
      condition(input, 'Ready', 'False', problem.reason, problem.message),
      condition(input, 'Progressing', 'False', problem.reason, `blocked: ${problem.message}`),
      condition(input, 'Degraded', 'True', problem.reason, problem.message),
    ];
  }
  const out: PoolCondition[] = [];
  const assignable = !senders || senders.desired > 0;
  if (!assignable) {
    const message = `no IP of the pool can be assigned: ${unassignable.map((u) => u.why).join('; ')}`;
    out.push(condition(input, 'Ready', 'False', REASONS.IpNotAssignable, message));
  } else if (sendersReady(senders)) {
    const message = `${sendersMessage(senders)}; policy of generation ${input.generation} published`;
    out.push(condition(input, 'Ready', 'True', REASONS.SendersReady, message));
  } else {
    out.push(condition(input, 'Ready', 'False', REASONS.SendersNotReady, sendersMessage(senders)));
  }

  if (draining.length > 0) {
    const what = draining.map((d) => `${d.address} (${d.jobs} queued jobs)`);
    const message = `draining ${list(what)} before removing them from the pool`;
    out.push(condition(input, 'Progressing', 'True', REASONS.DrainingIps, message));
  } else if (assignable && !sendersReady(senders)) {
    const message = `rolling out generation ${input.generation}: ${sendersMessage(senders)}`;
    out.push(condition(input, 'Progressing', 'True', REASONS.RollingOut, message));
  } else {
    const message = `generation ${input.generation} is rolled out`;
    out.push(condition(input, 'Progressing', 'False', REASONS.RolloutComplete, message));
  }

  const stuck = unreadyFor(input);
  if (unassignable.length > 0) {
    const message = unassignable.map((u) => u.why).join('; ');
    out.push(condition(input, 'Degraded', 'True', REASONS.IpNotAssignable, message));
  } else if ((input.nodeUnavailable ?? []).length > 0) {
    const what = (input.nodeUnavailable ?? []).map((u) => `${u.address} (${u.why})`);
    const message = `no jobs for ${list(what)} until the node can run its sender pod again: uncordon or replace the node, or move the IPs`;
    out.push(condition(input, 'Degraded', 'True', REASONS.NodeUnavailable, message));
  } else if ((input.absentSources ?? []).length > 0) {
    const what = (input.absentSources ?? []).map((a) => `${a.address} on pod ${a.pod}`);
    const message = `assigned source addresses are not present: ${list(what)}; their mail is deferred until the address is configured on the pod's network (node, hostNetwork or an IP allocator)`;
    out.push(condition(input, 'Degraded', 'True', REASONS.SourceAddressAbsent, message));
  } else if (allPaused(input.rows)) {
    const what = input.rows.map((r) => `${r.address} (${r.reputation?.reason})`);
    const message = `every IP is paused by the reputation guard: ${list(what)}; mail is deferred, not bounced, until one resumes (docs/reputation.md)`;
    out.push(condition(input, 'Degraded', 'True', REASONS.AllIpsPaused, message));
  } else if ((input.complaints ?? []).length + (input.submitterComplaints ?? []).length > 0) {
    const state = (c: { rate: number; held: boolean; level: string }, release: string) =>
      `${(c.rate * 100).toFixed(2)} % (${c.held ? `bulk mail held until released: hikyaku holds release${release}` : `over the ${c.level} line`})`;
    const parts: string[] = [];
    const domains = (input.complaints ?? []).map((c) => `${c.domain} ${state(c, '')}`);
    if (domains.length > 0) parts.push(`complaint rate of sender domains: ${list(domains)}`);
    const submitters = (input.submitterComplaints ?? []).map(
      (c) => `${c.submitter} ${state(c, ' --submitter')}`,
    );
    if (submitters.length > 0) parts.push(`complaint rate of submitters: ${list(submitters)}`);
    const message = parts.join('; ');
    out.push(condition(input, 'Degraded', 'True', REASONS.ComplaintRateHigh, message));
  } else if (input.redisUnreachable !== undefined) {
    const message = `Redis is unreachable (${input.redisUnreachable}): the scheduler releases no mail until it is back; the IP rows show the last counters read`;
    out.push(condition(input, 'Degraded', 'True', REASONS.RedisUnreachable, message));
  } else if (assignable && !sendersReady(senders) && stuck >= input.sendersReadyTimeoutMs) {
    const minutes = Math.round(stuck / 60_000);
    const message = `${sendersMessage(senders)} for ${minutes} min; see the pods' events (kubectl describe pod)`;
    out.push(condition(input, 'Degraded', 'True', REASONS.SendersNotReady, message));
  } else {
    out.push(condition(input, 'Degraded', 'False', REASONS.AsExpected, 'nothing needs attention'));
  }
  return out;
}

export function buildPoolStatus(input: StatusInput): RelayPoolStatus {
  const rows = input.rows.map((r) => ({ ...r }));
  return {
    observedGeneration: input.generation,
    conditions: conditions(input),
    ips: rows,
    totalIps: input.totalIps,
    warmingIps: rows.filter((r) => r.state === 'Warming').length,
    readySenders: input.senders?.ready ?? 0,
    totalSenders: input.senders?.desired ?? 0,
    sentToday: rows.reduce((sum, r) => sum + (r.sentToday ?? 0), 0),
  };
}

/** The condition of a type in a status, if present. */
export function conditionOf(
  status: Partial<RelayPoolStatus> | undefined,
  type: PoolCondition['type'],
): PoolCondition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}
