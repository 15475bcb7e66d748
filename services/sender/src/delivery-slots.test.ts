import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDeliverySlots } from './delivery-slots.ts';

const never = new AbortController().signal;

describe('delivery slots', () => {
  it('gives out as many slots as it has, then passes each freed one on in arrival order', async () => {
    const slots = createDeliverySlots(2);
    const first = await slots.acquire(never);
    await slots.acquire(never);
    const order: string[] = [];
    const third = slots.acquire(never).then((release) => {
      order.push('third');
      return release;
    });
    const fourth = slots.acquire(never).then((release) => {
      order.push('fourth');
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], 'nothing beyond the slots starts');
    assert.equal(slots.busy, 2);
    assert.equal(slots.waiting, 2);
    first();
    first(); // a second release of one slot frees nothing more
    (await third)();
    await fourth;
    assert.deepEqual(order, ['third', 'fourth']);
    assert.equal(slots.busy, 2);
    assert.equal(slots.waiting, 0);
  });

  it('drops a waiter whose job is aborted; the slot goes to the next', async () => {
    const slots = createDeliverySlots(1);
    const held = await slots.acquire(never);
    const aborted = new AbortController();
    const gone = slots.acquire(aborted.signal);
    const next = slots.acquire(never);
    aborted.abort(new Error('deadline'));
    await assert.rejects(gone, /deadline/);
    assert.equal(slots.waiting, 1);
    held();
    (await next)();
    assert.equal(slots.busy, 0);
  });

  it('rejects every waiter and every later acquire once drained', async () => {
    const slots = createDeliverySlots(1);
    await slots.acquire(never);
    const waiting = slots.acquire(never);
    slots.drain(new Error('stopping'));
    await assert.rejects(waiting, /stopping/);
    await assert.rejects(slots.acquire(never), /stopping/);
    assert.equal(slots.waiting, 0);
  });
});
