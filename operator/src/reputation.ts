/**
 * The reputation guard as the RelayPool shows it. The scheduler decides and stores each
 * IP's standing in NATS KV; the operator mirrors it into the status rows, records an Event
 * when an IP's standing changes, and carries out the resume a human asks for with the
 * annotation `hikyaku.io/resume-ips: "203.0.113.7,203.0.113.8;<anything>"`: each listed IP
 * is resumed once per distinct annotation value (change the part after `;` to resume again),
 * so the annotation can stay on the object.
 */
import type { CompiledPool, Logger, ReputationStore } from '@hikyaku/core';
import {
  type IpReputation,
  reputationCondition,
  resolveReputationSettings,
  resumeByHand,
} from '@hikyaku/core/policy';
import { metaTime } from './desired/status.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { IpReputationRow, IpStatusRow, RelayPoolObject } from './kube/objects.ts';

export const RESUME_ANNOTATION = 'hikyaku.io/resume-ips';

/** The status row's view of one IP's standing. Pure. */
export function reputationRow(state: IpReputation): IpReputationRow {
  const condition = reputationCondition(state);
  const listedOn = state.listings.map((l) => l.zone);
  const message =
    state.paused?.detail ??
    (state.listings.length > 0
      ? state.listings.map((l) => `listed on ${l.zone}: ${l.meaning}`).join('; ')
      : state.ptr?.verdict === 'mismatch'
        ? state.ptr.detail
        : undefined);
  return {
    condition,
    ...(state.paused ? { reason: state.paused.reason, since: metaTime(state.paused.since) } : {}),
    ...(listedOn.length > 0 ? { listedOn } : {}),
    ...(message ? { message: message.slice(0, 2048) } : {}),
  };
}

/** The IPs an annotation value asks to resume. */
export function resumeRequest(value: string | undefined): string[] {
  if (!value) return [];
  const [list = ''] = value.split(';');
  return list
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Events for what changed between the last rows and these. Pure. */
export function reputationEvents(
  before: readonly IpStatusRow[] | undefined,
  after: readonly IpStatusRow[],
): PoolEvent[] {
  const old = new Map((before ?? []).map((r) => [r.address, r.reputation]));
  const events: PoolEvent[] = [];
  for (const row of after) {
    const was = old.get(row.address);
    const now = row.reputation;
    const from = was?.condition ?? 'Ok';
    const to = now?.condition ?? 'Ok';
    const newZones = (now?.listedOn ?? []).filter((z) => !(was?.listedOn ?? []).includes(z));
    if (to === 'Paused' && from !== 'Paused') {
      events.push({
        type: 'Warning',
        reason: EVENT_REASONS.IpPaused,
        action: 'Pause',
        note: `${row.address} paused (${now?.reason}): ${now?.message ?? ''}; its mail goes out from the pool's other IPs`,
      });
    } else if (from === 'Paused' && to !== 'Paused') {
      events.push({
        type: 'Normal',
        reason: EVENT_REASONS.IpResumed,
        action: 'Resume',
        note: `${row.address} resumed (it was paused for ${was?.reason ?? 'reputation'})`,
      });
    }
    if (newZones.length > 0 && to !== 'Paused') {
      events.push({
        type: 'Warning',
        reason: EVENT_REASONS.IpListed,
        action: 'Check',
        note: `${row.address} is listed on ${newZones.join(', ')}: ${now?.message ?? ''}`,
      });
    }
    if (to === 'PtrMismatch' && from !== 'PtrMismatch') {
      events.push({
        type: 'Warning',
        reason: EVENT_REASONS.IpPtrMismatch,
        action: 'Check',
        note: now?.message ?? `reverse DNS of ${row.address} does not confirm its hostname`,
      });
    }
    if ((was?.listedOn ?? []).length > 0 && (now?.listedOn ?? []).length === 0) {
      events.push({
        type: 'Normal',
        reason: EVENT_REASONS.IpDelisted,
        action: 'Check',
        note: `${row.address} is no longer listed on ${(was?.listedOn ?? []).join(', ')}`,
      });
    }
  }
  return events;
}

/**
 * Resumes the IPs the pool's annotation names, once per annotation value. Returns the IPs
 * resumed now; an IP that is not in the pool or has no stored standing is skipped.
 */
export async function applyResumeAnnotation(
  store: ReputationStore,
  pool: RelayPoolObject,
  compiled: CompiledPool,
  now: number,
  log: Logger,
): Promise<string[]> {
  const value = pool.metadata.annotations?.[RESUME_ANNOTATION];
  const wanted = resumeRequest(value);
  const resumed: string[] = [];
  const settings = compiled.reputation ?? resolveReputationSettings(undefined);
  for (const address of wanted) {
    if (!compiled.ips.some((ip) => ip.address === address)) {
      log.warn(
        { pool: compiled.key, ip: address },
        `${RESUME_ANNOTATION} names an IP not in the pool`,
      );
      continue;
    }
    const next = await store.update(compiled.key, address, (state) => {
      if (!state || state.resumeRequest === value) return undefined;
      return { ...resumeByHand(state, settings, now), resumeRequest: value as string };
    });
    if (next && next.resumeRequest === value && next.resumedAt === now) resumed.push(address);
  }
  return resumed;
}
