/**
 * The suppression list: per pool, the recipients mail must not be sent to, with why. It is
 * one Redis hash per pool (REDIS_KEYS.suppressions), field = the address in its lookup form
 * (see suppressionAddress), value = JSON SuppressionEntry. The ingress reads it at RCPT TO,
 * the scheduler adds hard-bounced addresses, and the command line manages it, all through
 * this module so they agree on the form of an address and of an entry.
 */
import { domainToASCII } from 'node:url';
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from './contract/redis-keys.ts';

export interface SuppressionReply {
  code: number;
  enhanced?: string;
  text: string;
}

export interface SuppressionEntry {
  /** Why: e.g. 'hard-bounce', 'complaint', 'manual'. Shown to the client at RCPT TO. */
  reason: string;
  /** When it was added (epoch ms). */
  at: number;
  /** The remote reply that caused it, when a bounce did. */
  reply?: SuppressionReply;
  /** Who added it: e.g. 'scheduler', 'cli'. */
  source: string;
}

export interface SuppressedAddress {
  address: string;
  entry: SuppressionEntry;
}

export interface SuppressionPage {
  /** Pass back to get the next page; '0' when the list has been walked. */
  cursor: string;
  entries: SuppressedAddress[];
}

export interface SuppressionList {
  /** Adds or replaces the entry of an address. */
  add(pool: string, address: string, entry: SuppressionEntry): Promise<void>;
  /** Removes an address; true when it was on the list. */
  remove(pool: string, address: string): Promise<boolean>;
  /** The entries of those addresses that are suppressed, keyed by lookup form; one round trip. */
  lookup(pool: string, addresses: readonly string[]): Promise<Map<string, SuppressionEntry>>;
  /** One page of the list (HSCAN: entries may repeat across pages, none is skipped). */
  list(pool: string, options?: { cursor?: string; count?: number }): Promise<SuppressionPage>;
  /** How many addresses a pool suppresses. */
  size(pool: string): Promise<number>;
}

/**
 * The form an address is stored and looked up in: trimmed, lower case, domain in its
 * ASCII (A-label) form. Local parts are case-sensitive in theory, but no mailbox provider
 * treats them so, and a suppression must not be dodged by changing case.
 */
export function suppressionAddress(address: string): string {
  const trimmed = address.trim();
  const at = trimmed.lastIndexOf('@');
  if (at < 0) return trimmed.toLowerCase();
  const domain = trimmed.slice(at + 1);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching non-ASCII on purpose
  const ascii = /[^\x00-\x7f]/.test(domain) ? domainToASCII(domain) || domain : domain;
  return `${trimmed.slice(0, at)}@${ascii}`.toLowerCase();
}

/**
 * An entry as stored. A value this version cannot read still means "suppressed": the
 * address stays refused rather than silently mailed.
 */
export function parseSuppressionEntry(value: string): SuppressionEntry {
  try {
    const parsed = JSON.parse(value) as Partial<SuppressionEntry>;
    if (parsed && typeof parsed === 'object' && typeof parsed.reason === 'string') {
      return {
        reason: parsed.reason,
        at: typeof parsed.at === 'number' ? parsed.at : 0,
        source: typeof parsed.source === 'string' ? parsed.source : 'unknown',
        ...(parsed.reply && typeof parsed.reply === 'object' ? { reply: parsed.reply } : {}),
      };
    }
  } catch {
    // fall through: unreadable entries still suppress
  }
  return { reason: 'unknown', at: 0, source: 'unknown' };
}

export function createSuppressionList(redis: Redis): SuppressionList {
  return {
    async add(pool, address, entry) {
      await redis.hset(
        REDIS_KEYS.suppressions(pool),
        suppressionAddress(address),
        JSON.stringify(entry),
      );
    },

    async remove(pool, address) {
      const removed = await redis.hdel(REDIS_KEYS.suppressions(pool), suppressionAddress(address));
      return removed > 0;
    },

    async lookup(pool, addresses) {
      const found = new Map<string, SuppressionEntry>();
      if (addresses.length === 0) return found;
      const fields = addresses.map(suppressionAddress);
      const values = await redis.hmget(REDIS_KEYS.suppressions(pool), ...fields);
      values.forEach((value, i) => {
        if (value !== null) found.set(fields[i] as string, parseSuppressionEntry(value));
      });
      return found;
    },

    async list(pool, options = {}) {
      const [cursor, flat] = await redis.hscan(
        REDIS_KEYS.suppressions(pool),
        options.cursor ?? '0',
        'COUNT',
        options.count ?? 100,
      );
      const entries: SuppressedAddress[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        entries.push({
          address: flat[i] as string,
          entry: parseSuppressionEntry(flat[i + 1] as string),
        });
      }
      return { cursor, entries };
    },

    size(pool) {
      return redis.hlen(REDIS_KEYS.suppressions(pool));
    },
  };
}
