/**
 * The reputation guard's settings: a pool's `spec.reputation` with every field filled and
 * checked, and the defaults (docs/reputation.md). Pure.
 */
import type { ReputationSpec } from '../pool/spec.ts';
import { MINUTE, parseDuration } from './duration.ts';
import { BadReputationError } from './errors.ts';

export type ZoneAction = 'pause' | 'warn';
export type GuardAction = 'off' | 'warn' | 'pause';

export interface ReputationSettings {
  enabled: boolean;
  checkIntervalMs: number;
  coolDownMs: number;
  zones: { zone: string; action: ZoneAction }[];
  fcrdns: GuardAction;
  blockReplies: { windowMs: number; minAttempts: number; threshold: number; action: GuardAction };
  /** Check loopback, private and documentation addresses too (a lab with its own DNS). */
  checkPrivateAddresses: boolean;
}

export const DEFAULT_DNSBL_ZONES: readonly { zone: string; action: ZoneAction }[] = [
  { zone: 'zen.spamhaus.org', action: 'pause' },
  { zone: 'b.barracudacentral.org', action: 'pause' },
  { zone: 'bl.spamcop.net', action: 'warn' },
];

export const DEFAULT_REPUTATION: Readonly<ReputationSettings> = Object.freeze<ReputationSettings>({
  enabled: true,
  checkIntervalMs: 15 * MINUTE,
  coolDownMs: 60 * MINUTE,
  zones: DEFAULT_DNSBL_ZONES.map((z) => ({ ...z })),
  fcrdns: 'warn',
  blockReplies: { windowMs: 60 * MINUTE, minAttempts: 20, threshold: 0.25, action: 'pause' },
  checkPrivateAddresses: false,
});

const ZONE_NAME =
  /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;

/** The pool's reputation spec with every field filled; throws BadReputationError. */
export function resolveReputationSettings(spec: ReputationSpec | undefined): ReputationSettings {
  const d = DEFAULT_REPUTATION;
  const s = spec ?? {};
  const interval = s.checkInterval
    ? parseDuration(s.checkInterval, 'reputation.checkInterval')
    : d.checkIntervalMs;
  if (interval < MINUTE) {
    throw new BadReputationError(
      `reputation.checkInterval must be at least 1m, got ${s.checkInterval}`,
    );
  }
  const coolDownMs = s.coolDown ? parseDuration(s.coolDown, 'reputation.coolDown') : d.coolDownMs;
  const zones = (s.dnsbl ?? d.zones).map((z) => ({
    zone: z.zone.toLowerCase().replace(/\.$/, ''),
    action: z.action ?? 'pause',
  }));
  const seen = new Set<string>();
  for (const z of zones) {
    if (!ZONE_NAME.test(z.zone))
      throw new BadReputationError(`reputation.dnsbl zone "${z.zone}" is not a DNS name`);
    if (seen.has(z.zone))
      throw new BadReputationError(`reputation.dnsbl lists zone "${z.zone}" twice`);
    seen.add(z.zone);
  }
  const b = s.blockReplies ?? {};
  const threshold = b.threshold ?? d.blockReplies.threshold;
  if (!(threshold > 0 && threshold <= 1)) {
    throw new BadReputationError(
      `reputation.blockReplies.threshold must be in (0, 1], got ${threshold}`,
    );
  }
  const minAttempts = b.minAttempts ?? d.blockReplies.minAttempts;
  if (!(Number.isInteger(minAttempts) && minAttempts >= 1)) {
    throw new BadReputationError(
      `reputation.blockReplies.minAttempts must be a whole number >= 1, got ${minAttempts}`,
    );
  }
  const windowMs = b.window
    ? parseDuration(b.window, 'reputation.blockReplies.window')
    : d.blockReplies.windowMs;
  if (!(windowMs >= 5 * MINUTE && windowMs <= 24 * 60 * MINUTE)) {
    throw new BadReputationError(
      `reputation.blockReplies.window must be between 5m and 24h, got ${b.window}`,
    );
  }
  return {
    enabled: s.enabled ?? d.enabled,
    checkIntervalMs: interval,
    coolDownMs,
    zones,
    fcrdns: s.fcrdns ?? d.fcrdns,
    blockReplies: { windowMs, minAttempts, threshold, action: b.action ?? d.blockReplies.action },
    checkPrivateAddresses: s.checkPrivateAddresses ?? d.checkPrivateAddresses,
  };
}
