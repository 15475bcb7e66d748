import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createConnectionPool, type PooledResource } from './connection-pool.ts';

interface TestResource extends PooledResource {
  id: number;
  usable: boolean;
  /** Ends the resource from the far side (the server dropped the connection). */
  drop(): void;
}

function opener() {
  let next = 0;
  const opened: TestResource[] = [];
  const open = async (): Promise<TestResource> => {
    let gone: () => void = () => undefined;
    const resource: TestResource = {
      id: ++next,
      usable: true,
      closed: new Promise<void>((resolve) => {
        gone = resolve;
      }),
      async close() {
        resource.usable = false;
        gone();
      },
      drop() {
        resource.usable = false;
        gone();
      },
    };
    opened.push(resource);
    return resource;
  };
  return { open, opened };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const limits = { connections: 2, messagesPerConnection: 3 };

describe('connection pool', () => {
  it('reuses a released resource and retires it after messagesPerConnection', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open, opened } = opener();
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const lease = await pool.acquire('k', limits, open);
      ids.push(lease.resource.id);
      lease.release({ used: true, reusable: true });
      await settle();
    }
    assert.deepEqual(ids, [1, 1, 1, 2, 2, 2, 3]);
    assert.equal(opened[0]?.usable, false, 'the first was closed after 3 messages');
    await pool.close(new Error('test over'));
  });

  it('never has more than `connections` open, and serves waiters in order', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open, opened } = opener();
    const first = await pool.acquire('k', limits, open);
    const second = await pool.acquire('k', limits, open);
    const order: string[] = [];
    const third = pool.acquire('k', limits, open).then((l) => {
      order.push('third');
      return l;
    });
    const fourth = pool.acquire('k', limits, open).then((l) => {
      order.push('fourth');
      return l;
    });
    await settle();
    assert.deepEqual(pool.stats('k'), { open: 2, idle: 0, waiting: 2 });
    first.release({ used: true, reusable: true });
    const handed = await third;
    assert.equal(handed.resource, first.resource, 'handed over directly');
    // A retired resource frees its slot only once it is closed.
    second.release({ used: true, reusable: false });
    const opened3 = await fourth;
    assert.deepEqual(order, ['third', 'fourth']);
    assert.equal(opened3.resource.id, 3);
    assert.equal(opened.length, 3);
    assert.equal(pool.stats('k').open, 2);
    handed.release({ used: true, reusable: true });
    opened3.release({ used: true, reusable: true });
    await pool.close(new Error('test over'));
  });

  it('keeps keys apart', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open } = opener();
    const one = { connections: 1, messagesPerConnection: 10 };
    const a = await pool.acquire('a', one, open);
    const b = await pool.acquire('b', one, open);
    assert.notEqual(a.resource, b.resource);
    a.release({ used: true, reusable: true });
    b.release({ used: true, reusable: true });
    await pool.close(new Error('test over'));
  });

  it('frees the slot of a failed open for the next caller', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open } = opener();
    const one = { connections: 1, messagesPerConnection: 10 };
    await assert.rejects(
      pool.acquire('k', one, async () => {
        throw new Error('refused');
      }),
      /refused/,
    );
    const lease = await pool.acquire('k', one, open);
    assert.equal(pool.stats('k').open, 1);
    lease.release({ used: false, reusable: true });
    await pool.close(new Error('test over'));
  });

  it('does not hand out an idle resource the far side dropped', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open } = opener();
    const lease = await pool.acquire('k', limits, open);
    lease.release({ used: true, reusable: true });
    lease.resource.drop();
    await settle();
    assert.deepEqual(pool.stats('k'), { open: 0, idle: 0, waiting: 0 });
    const next = await pool.acquire('k', limits, open);
    assert.equal(next.resource.id, 2);
    next.release({ used: true, reusable: true });
    await pool.close(new Error('test over'));
  });

  it('closes a resource left idle for idleMs', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 1 });
    const { open } = opener();
    const lease = await pool.acquire('k', limits, open);
    lease.release({ used: true, reusable: true });
    await lease.resource.closed;
    assert.equal(lease.resource.usable, false);
    await pool.close(new Error('test over'));
  });

  it('does not close a resource whose idle time ran out while it was leased again', async () => {
    const idleMs = 20;
    const pool = createConnectionPool<TestResource>({ idleMs });
    const { open, opened } = opener();
    const first = await pool.acquire('k', limits, open);
    first.release({ used: true, reusable: true });
    const again = await pool.acquire('k', limits, open);
    assert.equal(again.resource, first.resource, 'the idle resource is reused');
    // Held past the idle time of its first release: the timer armed then finds it in use.
    await new Promise((resolve) => setTimeout(resolve, idleMs * 3));
    assert.equal(again.resource.usable, true, 'a leased resource is not closed under its user');
    again.release({ used: true, reusable: true });
    assert.deepEqual(pool.stats('k'), { open: 1, idle: 1, waiting: 0 });
    // Idle again: the timer, re-armed by the release, closes it.
    await again.resource.closed;
    assert.equal(opened.length, 1);
    assert.deepEqual(pool.stats('k'), { open: 0, idle: 0, waiting: 0 });
    await pool.close(new Error('test over'));
  });

  it('lets a waiter give up', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open } = opener();
    const one = { connections: 1, messagesPerConnection: 10 };
    const held = await pool.acquire('k', one, open);
    const abort = new AbortController();
    const waiting = pool.acquire('k', one, open, abort.signal);
    abort.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    assert.equal(pool.stats('k').waiting, 0);
    held.release({ used: true, reusable: true });
    await pool.close(new Error('test over'));
  });

  it('on drain fails waiters and new callers, and closes everything once released', async () => {
    const pool = createConnectionPool<TestResource>({ idleMs: 60_000 });
    const { open } = opener();
    const one = { connections: 1, messagesPerConnection: 10 };
    const held = await pool.acquire('k', one, open);
    const waiting = pool.acquire('k', one, open);
    const closed = pool.close(new Error('draining'));
    await assert.rejects(waiting, /draining/);
    await assert.rejects(pool.acquire('k', one, open), /draining/);
    let done = false;
    void closed.then(() => {
      done = true;
    });
    await settle();
    assert.equal(done, false, 'a resource in use is not taken away');
    held.release({ used: true, reusable: true });
    await closed;
    assert.equal(held.resource.usable, false);
  });
});
