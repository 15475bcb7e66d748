import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planSlots, slotOfPod, slotPodName } from './slots.ts';

const ip = (address: string, group = '') => ({ address, group });

describe('planSlots', () => {
  it('puts IPs of one node together, never IPs of two nodes', () => {
    const plan = planSlots({
      poolName: 'tx',
      ips: [ip('a', 'n1'), ip('b', 'n2'), ip('c', 'n1'), ip('d', 'n2'), ip('e', 'n1')],
      draining: [],
      ipsPerPod: 2,
      previous: {},
    });
    assert.deepEqual(plan.slots, [
      { index: 0, group: 'n1', addresses: ['a', 'c'] },
      { index: 1, group: 'n2', addresses: ['b', 'd'] },
      { index: 2, group: 'n1', addresses: ['e'] },
    ]);
    assert.equal(plan.assignment.e, 'tx-s2-0');
  });

  it('moves no IP when one is added or removed', () => {
    const first = planSlots({
      poolName: 'tx',
      ips: [ip('a'), ip('b'), ip('c')],
      draining: [],
      ipsPerPod: 1,
      previous: {},
    });
    const removed = planSlots({
      poolName: 'tx',
      ips: [ip('a'), ip('c')],
      draining: [],
      ipsPerPod: 1,
      previous: first.assignment,
    });
    assert.deepEqual(removed.assignment, { a: 'tx-s0-0', c: 'tx-s2-0' });
    const added = planSlots({
      poolName: 'tx',
      ips: [ip('a'), ip('c'), ip('d'), ip('e')],
      draining: [],
      ipsPerPod: 1,
      previous: removed.assignment,
    });
    assert.deepEqual(added.assignment, {
      a: 'tx-s0-0',
      c: 'tx-s2-0',
      d: 'tx-s1-0',
      e: 'tx-s3-0',
    });
  });

  it('keeps a draining IP on its pod and fills the room it leaves only once it is gone', () => {
    const plan = planSlots({
      poolName: 'tx',
      ips: [ip('a', 'n1'), ip('c', 'n1')],
      draining: [ip('b', 'n1')],
      ipsPerPod: 2,
      previous: { a: 'tx-s0-0', b: 'tx-s0-0' },
    });
    assert.deepEqual(plan.assignment, { a: 'tx-s0-0', b: 'tx-s0-0', c: 'tx-s1-0' });
  });

  it('moves an IP whose node changed to a slot of its new node', () => {
    const plan = planSlots({
      poolName: 'tx',
      ips: [ip('a', 'n1'), ip('b', 'n2')],
      draining: [],
      ipsPerPod: 2,
      previous: { a: 'tx-s0-0', b: 'tx-s0-0' },
    });
    assert.deepEqual(plan.assignment, { a: 'tx-s0-0', b: 'tx-s1-0' });
  });

  it('reads only its own pool slot pods back', () => {
    assert.equal(slotOfPod('tx', slotPodName('tx', 12)), 12);
    assert.equal(slotOfPod('tx', 'tx-sender-0'), undefined);
    assert.equal(slotOfPod('tx', 'tx-s1-1'), undefined);
    assert.equal(slotOfPod('t', 'tx-s1-0'), undefined);
    assert.equal(slotOfPod('tx', 'tx-s01-0'), undefined);
  });
});
