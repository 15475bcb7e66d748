/**
 * Connections kept per key (source IP × destination host) and reused within a rate policy's
 * limits: at most `connections` at once — counting those being opened and those still
 * closing, so that the receiver never sees more — and at most `messagesPerConnection`
 * transactions each. A caller over the limit waits for a connection to be handed over or
 * for a slot to free up, in arrival order.
 *
 * The pool knows nothing of SMTP: it holds anything that can tell whether it is still
 * usable, close itself, and report when it is gone.
 */

export interface PooledResource {
  /** False once the resource can no longer be used. */
  readonly usable: boolean;
  /** Settles when the resource is gone (its slot is free from then on). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface PoolLimits {
  connections: number;
  messagesPerConnection: number;
}

export interface Lease<R> {
  readonly resource: R;
  /** Transactions the resource carried before this lease; 0 for a fresh connection. */
  readonly uses: number;
  /**
   * Gives the resource back. `used`: it carried a transaction. `reusable`: it may carry
   * another one; otherwise, or when the limit of messages is reached, it is closed.
   */
  release(options: { used: boolean; reusable: boolean }): void;
}

export interface PoolStats {
  /** Open, being opened or still closing. */
  open: number;
  idle: number;
  waiting: number;
}

export interface ConnectionPool<R extends PooledResource> {
  acquire(
    key: string,
    limits: PoolLimits,
    open: () => Promise<R>,
    signal?: AbortSignal,
  ): Promise<Lease<R>>;
  stats(key: string): PoolStats;
  /** Refuses new acquisitions and fails every waiter with `reason`. */
  drain(reason: Error): void;
  /** Drains, closes idle resources, and resolves once every resource is gone. */
  close(reason: Error): Promise<void>;
}

interface Entry<R> {
  resource: R;
  uses: number;
  idleTimer?: NodeJS.Timeout;
}

interface Waiter<R> {
  resolve(handed: Entry<R> | 'slot'): void;
  reject(err: unknown): void;
}

interface Group<R> {
  /** Every resource of the key that has not closed yet, including those being opened. */
  count: number;
  idle: Entry<R>[];
  waiters: Waiter<R>[];
  limits: PoolLimits;
}

export function createConnectionPool<R extends PooledResource>(options: {
  /** How long an unused resource is kept for the next caller. */
  idleMs: number;
}): ConnectionPool<R> {
  const groups = new Map<string, Group<R>>();
  let draining: Error | undefined;
  let total = 0;
  let allClosed: (() => void) | undefined;

  const groupOf = (key: string, limits: PoolLimits): Group<R> => {
    let group = groups.get(key);
    if (!group) {
      group = { count: 0, idle: [], waiters: [], limits };
      groups.set(key, group);
    }
    group.limits = limits;
    return group;
  };

  const forget = (key: string, group: Group<R>): void => {
    if (group.count === 0 && group.waiters.length === 0 && groups.get(key) === group) {
      groups.delete(key);
    }
  };

  /** A slot freed up: the first waiter may open a connection. */
  const wake = (group: Group<R>): void => {
    if (group.waiters.length > 0 && group.count < group.limits.connections) {
      group.waiters.shift()?.resolve('slot');
    }
  };

  const gone = (key: string, group: Group<R>, entry: Entry<R>): void => {
    clearTimeout(entry.idleTimer);
    const at = group.idle.indexOf(entry);
    if (at >= 0) group.idle.splice(at, 1);
    group.count--;
    total--;
    wake(group);
    forget(key, group);
    if (total === 0) allClosed?.();
  };

  const retire = (entry: Entry<R>): void => {
    clearTimeout(entry.idleTimer);
    // Closing never fails in a way that matters here: `closed` frees the slot either way.
    entry.resource.close().catch(() => undefined);
  };

  // The idle timer stays armed while the resource is leased (see `rest`).
  const takeIdle = (group: Group<R>): Entry<R> | undefined => {
    for (let entry = group.idle.pop(); entry; entry = group.idle.pop()) {
      if (entry.resource.usable) return entry;
      retire(entry);
    }
    return undefined;
  };

  /**
   * Puts a released resource among the idle ones. Its one timer is re-armed rather than a
   * new one set and cleared for every transaction; when it fires while the resource is
   * leased again it does nothing, and the next release re-arms it.
   */
  const rest = (group: Group<R>, entry: Entry<R>): void => {
    group.idle.push(entry);
    if (entry.idleTimer) {
      entry.idleTimer.refresh();
      return;
    }
    entry.idleTimer = setTimeout(() => {
      const at = group.idle.indexOf(entry);
      if (at < 0) return;
      group.idle.splice(at, 1);
      retire(entry);
    }, options.idleMs);
  };

  const lease = (group: Group<R>, entry: Entry<R>): Lease<R> => {
    let released = false;
    return {
      resource: entry.resource,
      uses: entry.uses,
      release({ used, reusable }) {
        if (released) return;
        released = true;
        if (used) entry.uses++;
        const spent = entry.uses >= group.limits.messagesPerConnection;
        if (!reusable || spent || draining || !entry.resource.usable) {
          retire(entry);
          return;
        }
        const waiter = group.waiters.shift();
        if (waiter) {
          waiter.resolve(entry);
          return;
        }
        rest(group, entry);
      },
    };
  };

  const wait = (group: Group<R>, signal?: AbortSignal): Promise<Entry<R> | 'slot'> =>
    new Promise((resolve, reject) => {
      const waiter: Waiter<R> = {
        resolve(handed) {
          signal?.removeEventListener('abort', onAbort);
          resolve(handed);
        },
        reject(err) {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        const at = group.waiters.indexOf(waiter);
        if (at >= 0) group.waiters.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      group.waiters.push(waiter);
    });

  const drain = (reason: Error): void => {
    draining ??= reason;
    for (const group of groups.values()) {
      for (const waiter of group.waiters.splice(0)) waiter.reject(reason);
    }
  };

  return {
    async acquire(key, limits, open, signal) {
      for (;;) {
        if (draining) throw draining;
        signal?.throwIfAborted();
        const group = groupOf(key, limits);
        const idle = takeIdle(group);
        if (idle) return lease(group, idle);
        if (group.count < limits.connections) {
          group.count++;
          total++;
          let resource: R;
          try {
            resource = await open();
          } catch (err) {
            group.count--;
            total--;
            wake(group);
            forget(key, group);
            if (total === 0) allClosed?.();
            throw err;
          }
          const entry: Entry<R> = { resource, uses: 0 };
          resource.closed.then(
            () => gone(key, group, entry),
            () => gone(key, group, entry),
          );
          return lease(group, entry);
        }
        const handed = await wait(group, signal);
        if (handed !== 'slot') return lease(group, handed);
      }
    },
    stats(key) {
      const group = groups.get(key);
      return {
        open: group?.count ?? 0,
        idle: group?.idle.length ?? 0,
        waiting: group?.waiters.length ?? 0,
      };
    },
    drain,
    async close(reason) {
      drain(reason);
      for (const group of groups.values()) {
        for (const entry of group.idle.splice(0)) retire(entry);
      }
      if (total === 0) return;
      await new Promise<void>((resolve) => {
        allClosed = resolve;
      });
    },
  };
}
