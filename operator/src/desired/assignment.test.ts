import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignIps } from '@hikyaku/core';
import { planAssignment } from './assignment.ts';

const ips = (...last: number[]) => last.map((n) => `192.0.2.${n}`);

describe('planAssignment', () => {
  it('assigns a new pool as core does: consecutive groups of ipsPerPod', () => {
    const addresses = ips(1, 2, 3, 4, 5);
    const plan = planAssignment({
      poolName: 'p',
      addresses,
      draining: [],
      ipsPerPod: 2,
      previous: {},
    });
    assert.deepEqual(plan.assignment, assignIps('p', addresses, 2));
    assert.equal(plan.replicas, 3);
  });

  it('adding an IP moves no other', () => {
    const previous = { '192.0.2.1': 'p-sender-0', '192.0.2.2': 'p-sender-1' };
    const plan = planAssignment({
      poolName: 'p',
      addresses: ips(3, 1, 2),
      draining: [],
      ipsPerPod: 1,
      previous,
    });
    assert.deepEqual(plan.assignment, { ...previous, '192.0.2.3': 'p-sender-2' });
    assert.equal(plan.replicas, 3);
  });

  it('a draining IP keeps its pod, and the pods, until it is gone', () => {
    const previous = {
      '192.0.2.1': 'p-sender-0',
      '192.0.2.2': 'p-sender-1',
      '192.0.2.3': 'p-sender-2',
    };
    const during = planAssignment({
      poolName: 'p',
      addresses: ips(2, 3),
      draining: ips(1),
      ipsPerPod: 1,
      previous,
    });
    assert.deepEqual(during.assignment, previous);
    assert.equal(during.replicas, 3);
    // Drained: the IP of the last pod moves into the freed one and the last pod goes.
    const after = planAssignment({
      poolName: 'p',
      addresses: ips(2, 3),
      draining: [],
      ipsPerPod: 1,
      previous,
    });
    assert.deepEqual(after.assignment, { '192.0.2.2': 'p-sender-1', '192.0.2.3': 'p-sender-0' });
    assert.equal(after.replicas, 2);
  });

  it('removing the last IP moves none', () => {
    const previous = { '192.0.2.1': 'p-sender-0', '192.0.2.2': 'p-sender-1' };
    const plan = planAssignment({
      poolName: 'p',
      addresses: ips(1),
      draining: [],
      ipsPerPod: 1,
      previous,
    });
    assert.deepEqual(plan.assignment, { '192.0.2.1': 'p-sender-0' });
    assert.equal(plan.replicas, 1);
  });

  it('packs IPs into fewer pods when ipsPerPod grows, keeping the ones that fit', () => {
    const previous = {
      '192.0.2.1': 'p-sender-0',
      '192.0.2.2': 'p-sender-1',
      '192.0.2.3': 'p-sender-2',
      '192.0.2.4': 'p-sender-3',
    };
    const plan = planAssignment({
      poolName: 'p',
      addresses: ips(1, 2, 3, 4),
      draining: [],
      ipsPerPod: 2,
      previous,
    });
    assert.equal(plan.assignment['192.0.2.1'], 'p-sender-0');
    assert.equal(plan.assignment['192.0.2.2'], 'p-sender-1');
    assert.equal(plan.replicas, 2);
    const load = Object.values(plan.assignment).reduce<Record<string, number>>((m, pod) => {
      m[pod] = (m[pod] ?? 0) + 1;
      return m;
    }, {});
    assert.deepEqual(load, { 'p-sender-0': 2, 'p-sender-1': 2 });
  });

  it('ignores previous pods of another pool or out of shape', () => {
    const plan = planAssignment({
      poolName: 'p',
      addresses: ips(1, 2),
      draining: [],
      ipsPerPod: 1,
      previous: { '192.0.2.1': 'q-sender-1', '192.0.2.2': 'p-sender-01' },
    });
    assert.deepEqual(plan.assignment, { '192.0.2.1': 'p-sender-0', '192.0.2.2': 'p-sender-1' });
  });

  it('runs no pod without IPs', () => {
    const plan = planAssignment({
      poolName: 'p',
      addresses: [],
      draining: [],
      ipsPerPod: 1,
      previous: {},
    });
    assert.deepEqual(plan, { assignment: {}, replicas: 0 });
  });
});
