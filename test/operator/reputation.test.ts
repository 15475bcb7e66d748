/**
 * The RelayPool shows what the reputation guard stored in NATS KV: a Paused row with its
 * reason, zones and since-when, a Listed row for a warn-only zone, a PtrMismatch row, an
 * Event on every change, Degraded when every IP is paused; and the resume annotation
 * resumes an IP once per value.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openReputationStore, poolKey, type ReputationStore } from '@hikyaku/core';
import { emptyReputation, type IpReputation } from '@hikyaku/core/policy';
import { RESUME_ANNOTATION } from '@hikyaku/operator';
import { waitFor } from '@hikyaku/testing';
import { EventsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  basicSpec,
  type OperatorFixture,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';

let fx: OperatorFixture;
let op: RunningOperator;
let store: ReputationStore;
const SINCE = Date.parse('2026-12-01T09:00:00Z');
const A = '192.0.2.40';
const B = '192.0.2.41';

function listed(address: string, action: 'pause' | 'warn'): IpReputation {
  return {
    ...emptyReputation(address, 'mta.example.com'),
    listings: [
      { zone: 'zen.spamhaus.org', action, codes: ['127.0.0.2'], meaning: 'SBL', since: SINCE },
    ],
    ...(action === 'pause'
      ? { paused: { reason: 'listed', detail: 'listed on zen.spamhaus.org: SBL', since: SINCE } }
      : {}),
  };
}

async function write(state: IpReputation): Promise<void> {
  const key = poolKey(fx.namespace, 'rep');
  const current = await store.get(key, state.address);
  assert.ok(await store.put(key, state, current?.revision ?? 0));
}

async function eventReasons(): Promise<string[]> {
  const events = fx.kc.makeApiClient(EventsV1Api);
  const list = await events.listNamespacedEvent({ namespace: fx.namespace });
  return list.items.filter((e) => e.regarding?.name === 'rep').map((e) => e.reason ?? '');
}

async function rowOf(address: string, check: (row: Record<string, unknown>) => boolean) {
  return waitFor(`the row of ${address}`, async () => {
    const pool = await fx.getPool('rep');
    const row = pool?.status?.ips?.find((r) => r.address === address);
    return row && check(row as unknown as Record<string, unknown>) ? row : undefined;
  });
}

before(async () => {
  fx = await startOperatorFixture({ redis: true });
  op = await fx.startOperator();
  store = await openReputationStore(fx.nats.js);
  await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
  await fx.createPool('rep', basicSpec(40));
  await fx.waitForCondition('rep', 'Ready', (c) => c.status === 'True', 'Ready');
});
after(() => fx.stop());

describe('reputation in the RelayPool status', () => {
  it('a paused IP shows Paused with reason, zone and since, and an Event', async () => {
    await write(listed(A, 'pause'));
    const row = await rowOf(A, (r) => r.state === 'Paused');
    assert.deepEqual(row.reputation, {
      condition: 'Paused',
      reason: 'listed',
      since: '2026-12-01T09:00:00Z',
      listedOn: ['zen.spamhaus.org'],
      message: 'listed on zen.spamhaus.org: SBL',
    });
    await waitFor('an IpPaused Event', async () => (await eventReasons()).includes('IpPaused'));
  });

  it('a warn-only listing shows Listed; a reverse DNS mismatch shows PtrMismatch', async () => {
    await write(listed(B, 'warn'));
    const row = await rowOf(
      B,
      (r) => (r.reputation as { condition?: string })?.condition === 'Listed',
    );
    assert.equal(row.state, 'Active');
    await waitFor('an IpListed Event', async () => (await eventReasons()).includes('IpListed'));
    await write({
      ...emptyReputation(B, 'mta2.example.com'),
      ptr: { verdict: 'mismatch', names: ['host.isp.example'], detail: 'PTR is host.isp.example' },
    });
    await rowOf(B, (r) => (r.reputation as { condition?: string })?.condition === 'PtrMismatch');
    await waitFor('IpPtrMismatch and IpDelisted Events', async () => {
      const reasons = await eventReasons();
      return reasons.includes('IpPtrMismatch') && reasons.includes('IpDelisted');
    });
  });

  it('a pool whose every IP is paused says so in Degraded', async () => {
    await write(listed(B, 'pause'));
    const pool = await fx.waitForCondition(
      'rep',
      'Degraded',
      (c) => c.status === 'True' && c.reason === 'AllIpsPaused',
      'Degraded for every IP paused',
    );
    const degraded = pool.status?.conditions?.find((c) => c.type === 'Degraded');
    assert.match(degraded?.message ?? '', /deferred, not bounced/);
  });

  it('the resume annotation resumes the IPs it names, once per value', async () => {
    const patch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await fx.custom.patchNamespacedCustomObject(
      {
        group: 'hikyaku.io',
        version: 'v1alpha1',
        namespace: fx.namespace,
        plural: 'relaypools',
        name: 'rep',
        body: { metadata: { annotations: { [RESUME_ANNOTATION]: `${A};1` } } },
      },
      patch,
    );
    const row = await rowOf(A, (r) => r.state !== 'Paused');
    assert.equal((row.reputation as { condition?: string })?.condition, 'Listed');
    const state = (await store.get(poolKey(fx.namespace, 'rep'), A))?.state;
    assert.equal(state?.resumeRequest, `${A};1`);
    assert.deepEqual(state?.acknowledged, ['listed:zen.spamhaus.org']);
    await waitFor('an IpResumed Event', async () => (await eventReasons()).includes('IpResumed'));
    // The other IP stays paused: only what the annotation names is resumed.
    assert.equal((await rowOf(B, () => true)).state, 'Paused');
  });
});
