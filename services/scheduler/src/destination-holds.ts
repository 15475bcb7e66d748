/**
 * Destinations an admin holds (`hikyaku queue --hold DOMAIN`): nothing is sent to a held
 * domain, its mail waits in the queue (its maximum age still applies) until the release.
 * The same kind of table as the complaint guard's sender-domain holds (hold-table.ts).
 */
import { REDIS_KEYS } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import { cachedHoldTable, createHoldTable, type HoldTable } from './hold-table.ts';

export interface DestinationHold {
  /** When the hold began (epoch ms). */
  at: number;
}

export type DestinationHolds = HoldTable<DestinationHold>;

/**
 * How stale the queue stage's copy of the holds may be: a hold or release reaches every
 * replica within this bound (docs/operations.md).
 */
export const DESTINATION_HOLDS_MAX_AGE_MS = 1000;

export function createDestinationHolds(redis: Redis): DestinationHolds {
  return createHoldTable<DestinationHold>(redis, REDIS_KEYS.destinationHolds);
}

/** The same table for the queue stage: held domains read once a second, not per item. */
export function createCachedDestinationHolds(redis: Redis): DestinationHolds {
  return cachedHoldTable(createDestinationHolds(redis), DESTINATION_HOLDS_MAX_AGE_MS);
}
