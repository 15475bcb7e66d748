/**
 * Destinations an admin holds (`hikyaku queue --hold DOMAIN`): nothing is sent to a held
 * domain, its mail waits in the queue (its maximum age still applies) until the release.
 * The same kind of table as the complaint guard's sender-domain holds (hold-table.ts).
 */
import { REDIS_KEYS } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import { createHoldTable, type HoldTable } from './hold-table.ts';

export interface DestinationHold {
  /** When the hold began (epoch ms). */
  at: number;
}

export type DestinationHolds = HoldTable<DestinationHold>;

export function createDestinationHolds(redis: Redis): DestinationHolds {
  return createHoldTable<DestinationHold>(redis, REDIS_KEYS.destinationHolds);
}
