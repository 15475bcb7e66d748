/**
 * Redis keys. One hash tag per pool ({pool}) keeps a pool's keys in one slot, so the
 * atomic scripts that touch several of them also work on Redis Cluster.
 */
export const REDIS_KEYS = {
  /** Round-robin cursor over a pool's IPs. */
  ipCursor: (pool: string): string => `hikyaku:{${pool}}:ip-cursor`,
  /** Suppressed recipients: hash address -> JSON {reason, at, reply}. */
  suppressions: (pool: string): string => `hikyaku:{${pool}}:suppressions`,
} as const;
