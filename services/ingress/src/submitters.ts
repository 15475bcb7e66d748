/**
 * Who a client authenticated as: the submitters of every pool the ingress serves, by
 * username. A username belongs to one pool; when two pools declare the same one, the
 * ingress cannot tell whose mail it is and refuses that username until the conflict is
 * resolved.
 */

import type { CompiledPool, CompiledSubmitter, PoolDirectory } from '@hikyaku/core';
import { hashPassword, verifyPassword } from '@hikyaku/core';

export interface SubmitterEntry {
  pool: CompiledPool;
  submitter: CompiledSubmitter;
}

export interface SubmitterIndex {
  byName: Map<string, SubmitterEntry>;
  /** Username -> keys of the pools that all declare it. */
  conflicts: Map<string, string[]>;
}

export function indexSubmitters(pools: readonly CompiledPool[]): SubmitterIndex {
  const owners = new Map<string, SubmitterEntry[]>();
  for (const pool of pools) {
    for (const submitter of pool.submitters) {
      const list = owners.get(submitter.username) ?? [];
      list.push({ pool, submitter });
      owners.set(submitter.username, list);
    }
  }
  const byName = new Map<string, SubmitterEntry>();
  const conflicts = new Map<string, string[]>();
  for (const [name, list] of owners) {
    if (list.length === 1) byName.set(name, list[0] as SubmitterEntry);
    else conflicts.set(name, list.map((e) => e.pool.key).sort());
  }
  return { byName, conflicts };
}

export type AuthOutcome =
  | { ok: true; entry: SubmitterEntry }
  | { ok: false; why: 'unknown-user' | 'wrong-password' | 'no-password' | 'conflict' | 'bad-hash' };

export interface SubmitterDirectory {
  /** The submitter a session authenticated as, as the pools say now. */
  find(username: string): SubmitterEntry | undefined;
  authenticate(username: string, password: string): Promise<AuthOutcome>;
}

export function createSubmitterDirectory(deps: {
  pools: PoolDirectory;
  onConflict: (username: string, pools: string[]) => void;
  onBadHash: (username: string, pool: string, err: unknown) => void;
}): SubmitterDirectory {
  let index: SubmitterIndex | undefined;
  // An unknown username costs one hash computation, like a known one, so response times
  // do not tell which usernames exist.
  let decoy: Promise<string> | undefined;
  deps.pools.onChange(() => {
    index = undefined;
  });

  function current(): SubmitterIndex {
    if (!index) {
      index = indexSubmitters(deps.pools.all());
      for (const [name, keys] of index.conflicts) deps.onConflict(name, keys);
    }
    return index;
  }

  async function spend(password: string): Promise<void> {
    decoy ??= hashPassword('hikyaku-decoy');
    await verifyPassword(password, await decoy);
  }

  return {
    find: (username) => current().byName.get(username),

    async authenticate(username, password) {
      const { byName, conflicts } = current();
      const entry = byName.get(username);
      if (!entry) {
        await spend(password);
        return { ok: false, why: conflicts.has(username) ? 'conflict' : 'unknown-user' };
      }
      if (!entry.submitter.passwordHash) {
        await spend(password);
        return { ok: false, why: 'no-password' };
      }
      try {
        const match = await verifyPassword(password, entry.submitter.passwordHash);
        return match ? { ok: true, entry } : { ok: false, why: 'wrong-password' };
      } catch (err) {
        deps.onBadHash(username, entry.pool.key, err);
        return { ok: false, why: 'bad-hash' };
      }
    },
  };
}
