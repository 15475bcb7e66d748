/**
 * Egress modes through the operator against the stand-in with pods and nodes simulated:
 * the sender pods land where a scheduler would put them, hostNetwork pods on the node that
 * holds their IPs with host ports that do not collide, multus pods with their addresses
 * asked for, and IPs of a cordoned node taken out of the scheduler's hands.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACCESS, EGRESS_ANNOTATIONS, EGRESS_LABELS, requestAccess } from '@hikyaku/operator';
import { waitFor } from '@hikyaku/testing';
import type { KubeObject } from '../kube/index.ts';
import {
  type OperatorFixture,
  REAL_CLUSTER,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';

let fx: OperatorFixture;
let op: RunningOperator;

function node(name: string, address: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'hikyaku.io/egress': 'true' } },
    spec: { ...extra },
    status: {
      addresses: [{ type: 'InternalIP', address }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

const ips = (nodes: string[], first: number) =>
  nodes.map((n, i) => ({
    address: `203.0.113.${first + i}`,
    hostname: `mta${first + i}.example.com`,
    node: n,
  }));

const pods = () => (fx.api?.store.list('pods', fx.namespace) ?? []) as KubeObject[];
const podNamed = (name: string) => pods().find((p) => p.metadata.name === name);
const podSpec = (p: KubeObject | undefined) =>
  (p?.spec ?? {}) as {
    nodeName?: string;
    hostNetwork?: boolean;
    containers: { ports?: { hostPort?: number }[] }[];
  };

const ready = (name: string) =>
  fx.waitForCondition(name, 'Ready', (c) => c.status === 'True', `${name} Ready`);

describe('egress modes', { skip: REAL_CLUSTER }, () => {
  before(async () => {
    fx = await startOperatorFixture({
      standin: {
        simulatePods: true,
        crdFiles: [
          'crds/relaypools.hikyaku.io.yaml',
          'test/kube/fixtures/ciliumegressgatewaypolicies.cilium.io.yaml',
        ],
      },
    });
    fx.api?.store.put(node('egress-a', '198.51.100.1'));
    fx.api?.store.put(node('egress-b', '198.51.100.2'));
    fx.api?.store.put(node('worker-1', '198.51.100.3'));
    op = await fx.startOperator({ user: 'operator-egress' });
    await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
  });
  after(() => fx.stop());

  it('hostNetwork: a 4-IP pool on 2 egress nodes runs every pod on the node of its IP', async () => {
    await fx.createPool('pinned', {
      egress: { mode: 'hostNetwork' },
      ips: ips(['egress-a', 'egress-b', 'egress-a', 'egress-b'], 10),
    });
    await ready('pinned');
    const compiled = await fx.published('pinned');
    assert.ok(compiled);
    assert.equal(compiled.ips.length, 4);
    const hostPortsByNode = new Map<string, number[]>();
    for (const ip of compiled.ips) {
      assert.ok(ip.pod, `${ip.address} has a pod`);
      const pod = podNamed(ip.pod);
      assert.ok(pod, `pod ${ip.pod} exists`);
      const spec = podSpec(pod);
      assert.equal(spec.nodeName, ip.node, `${ip.pod} runs on ${ip.node}`);
      assert.equal(spec.hostNetwork, true);
      const port = spec.containers[0]?.ports?.[0]?.hostPort;
      assert.ok(port !== undefined && port >= 9200 && port <= 9299, `host port ${port}`);
      hostPortsByNode.set(spec.nodeName ?? '', [
        ...(hostPortsByNode.get(spec.nodeName ?? '') ?? []),
        port,
      ]);
    }
    assert.equal(new Set(compiled.ips.map((ip) => ip.pod)).size, 4, 'one pod per IP');
    for (const [n, ports] of hostPortsByNode) {
      assert.equal(new Set(ports).size, ports.length, `no two pods on ${n} share a host port`);
    }
    const sts = await fx.apps.readNamespacedStatefulSet({
      namespace: fx.namespace,
      name: 'pinned-s0',
    });
    assert.equal(sts.metadata?.annotations?.[EGRESS_ANNOTATIONS.node], compiled.ips[0]?.node);
  });

  it('hostNetwork: pods of a second pool on the same node take other host ports', async () => {
    await fx.createPool('second', {
      egress: { mode: 'hostNetwork' },
      senders: { ipsPerPod: 2 },
      ips: ips(['egress-a', 'egress-a'], 20),
    });
    await ready('second');
    const onA = pods().filter((p) => podSpec(p).nodeName === 'egress-a');
    assert.equal(onA.length, 3, 'two pods of the first pool and one of the second');
    const ports = onA.map((p) => podSpec(p).containers[0]?.ports?.[0]?.hostPort);
    assert.equal(new Set(ports).size, 3, `distinct host ports on egress-a: ${ports.join(', ')}`);
  });

  it('hostNetwork: the IPs of a cordoned node are NodeUnavailable and get no jobs, until it is back', async () => {
    const b = fx.api?.store.get('nodes', undefined, 'egress-b') as KubeObject;
    fx.api?.store.put({ ...b, spec: { unschedulable: true } });
    const degraded = await fx.waitForCondition(
      'pinned',
      'Degraded',
      (c) => c.status === 'True' && c.reason === 'NodeUnavailable',
      'pinned Degraded for NodeUnavailable',
    );
    const rows = Object.fromEntries((degraded.status?.ips ?? []).map((r) => [r.address, r.state]));
    assert.equal(rows['203.0.113.11'], 'NodeUnavailable');
    assert.equal(rows['203.0.113.13'], 'NodeUnavailable');
    assert.notEqual(rows['203.0.113.10'], 'NodeUnavailable');
    const compiled = await waitFor('the policy to mark the IPs', async () => {
      const c = await fx.published('pinned');
      return c?.ips.filter((ip) => ip.nodeUnavailable).length === 2 ? c : undefined;
    });
    assert.deepEqual(
      compiled.ips.filter((ip) => ip.nodeUnavailable).map((ip) => ip.address),
      ['203.0.113.11', '203.0.113.13'],
    );
    assert.ok(
      compiled.ips.every((ip) => ip.pod),
      'the IPs keep their pods',
    );

    fx.api?.store.put({ ...b, spec: {} });
    await fx.waitForCondition(
      'pinned',
      'Degraded',
      (c) => c.status === 'False',
      'pinned no longer Degraded',
    );
    const back = await waitFor('the policy to give the IPs back', async () => {
      const c = await fx.published('pinned');
      return c?.ips.every((ip) => !ip.nodeUnavailable) ? c : undefined;
    });
    assert.equal(back.ips.length, 4);
  });

  it('hostNetwork: removing an IP moves no other and removes its sender pod once drained', async () => {
    const before = await fx.published('pinned');
    await fx.patchSpec('pinned', {
      egress: { mode: 'hostNetwork' },
      ips: ips(['egress-a', 'egress-b', 'egress-a'], 10),
    });
    const after = await waitFor('the drained IP to leave the policy', async () => {
      const c = await fx.published('pinned');
      return c && c.ips.length === 3 ? c : undefined;
    });
    for (const ip of after.ips) {
      assert.equal(ip.pod, before?.ips.find((b) => b.address === ip.address)?.pod, ip.address);
    }
    const gone = before?.ips.find((ip) => ip.address === '203.0.113.13')?.pod ?? '';
    const sts = gone.replace(/-0$/, '');
    await waitFor(`StatefulSet ${sts} to be deleted`, async () =>
      fx.apps.readNamespacedStatefulSet({ namespace: fx.namespace, name: sts }).then(
        () => false,
        () => true,
      ),
    );
  });

  it('multus: each pod asks for its addresses on the pool network, off the node network', async () => {
    await fx.createPool('attached', {
      egress: { mode: 'multus', multus: { network: 'egress-net', ipv4PrefixLength: 24 } },
      senders: { ipsPerPod: 2 },
      ips: [
        { address: '203.0.113.30', hostname: 'mta30.example.com' },
        { address: '203.0.113.31', hostname: 'mta31.example.com' },
        { address: '203.0.113.32', hostname: 'mta32.example.com' },
      ],
    });
    await ready('attached');
    const compiled = await fx.published('attached');
    const byPod = new Map<string, string[]>();
    for (const ip of compiled?.ips ?? [])
      byPod.set(ip.pod ?? '', [...(byPod.get(ip.pod ?? '') ?? []), ip.address]);
    assert.equal(byPod.size, 2);
    for (const [name, addresses] of byPod) {
      const pod = podNamed(name);
      assert.ok(pod, name);
      assert.equal(podSpec(pod).hostNetwork, false);
      assert.deepEqual(JSON.parse(pod.metadata.annotations?.[EGRESS_ANNOTATIONS.networks] ?? ''), [
        { name: 'egress-net', namespace: fx.namespace, ips: addresses.map((a) => `${a}/24`) },
      ]);
    }
  });

  it('gateway: each pod carries the label naming its IP', async () => {
    await fx.createPool('behind', {
      egress: { mode: 'gateway' },
      ips: [{ address: '203.0.113.40', hostname: 'mta40.example.com' }],
    });
    await ready('behind');
    const compiled = await fx.published('behind');
    assert.equal(compiled?.egress, 'gateway');
    const pod = podNamed(compiled?.ips[0]?.pod ?? '');
    assert.equal(pod?.metadata.labels?.[EGRESS_LABELS.egressIp], '203.0.113.40');
    assert.equal(podSpec(pod).hostNetwork, false);
  });

  it('gateway with cilium: one CiliumEgressGatewayPolicy per IP, removed with the pool', async () => {
    await fx.createPool('natted', {
      egress: {
        mode: 'gateway',
        gateway: { cilium: { nodeSelector: { 'hikyaku.io/egress-gateway': 'true' } } },
      },
      ips: [
        { address: '203.0.113.50', hostname: 'mta50.example.com' },
        { address: '2001:db8::50', hostname: 'mta51.example.com' },
      ],
    });
    await ready('natted');
    const policies = () =>
      (fx.api?.store.list('ciliumegressgatewaypolicies.cilium.io') ?? []).filter(
        (p) => p.metadata.labels?.['hikyaku.io/pool'] === 'natted',
      );
    const found = await waitFor('two policies', () =>
      policies().length === 2 ? policies() : undefined,
    );
    const byIp = Object.fromEntries(
      found.map((p) => {
        const spec = p.spec as {
          egressGateway: {
            egressIP: string;
            nodeSelector: { matchLabels: Record<string, string> };
          };
          selectors: { podSelector: { matchLabels: Record<string, string> } }[];
        };
        return [spec.egressGateway.egressIP, spec];
      }),
    );
    assert.deepEqual(Object.keys(byIp).sort(), ['2001:db8::50', '203.0.113.50']);
    assert.deepEqual(byIp['2001:db8::50']?.selectors[0]?.podSelector.matchLabels, {
      'io.kubernetes.pod.namespace': fx.namespace,
      'hikyaku.io/pool': 'natted',
      [EGRESS_LABELS.egressIp]: '2001-db8--50',
    });
    assert.deepEqual(byIp['203.0.113.50']?.egressGateway.nodeSelector.matchLabels, {
      'hikyaku.io/egress-gateway': 'true',
    });
    // The policy selects exactly the pod the IP is assigned to.
    const compiled = await fx.published('natted');
    const pod = podNamed(compiled?.ips.find((ip) => ip.address === '2001:db8::50')?.pod ?? '');
    assert.equal(pod?.metadata.labels?.[EGRESS_LABELS.egressIp], '2001-db8--50');
    assert.equal(pod?.metadata.labels?.['hikyaku.io/pool'], 'natted');

    await fx.deletePool('natted');
    await waitFor('the policies to go with the pool', () => policies().length === 0);
  });

  it('gateway with cilium where Cilium is not installed: EgressPolicyUnavailable, saying what to do', async () => {
    fx.api?.store.delete(
      'customresourcedefinitions',
      undefined,
      'ciliumegressgatewaypolicies.cilium.io',
    );
    await fx.createPool('nocilium', {
      egress: { mode: 'gateway', gateway: { cilium: { nodeSelector: { gw: 'true' } } } },
      ips: [{ address: '203.0.113.60', hostname: 'mta60.example.com' }],
    });
    const pool = await fx.waitForCondition(
      'nocilium',
      'Degraded',
      (c) => c.status === 'True' && c.reason === 'EgressPolicyUnavailable',
      'nocilium Degraded for EgressPolicyUnavailable',
    );
    const degraded = pool.status?.conditions?.find((c) => c.type === 'Degraded');
    assert.match(
      degraded?.message ?? '',
      /does not serve CiliumEgressGatewayPolicy.*remove egress\.gateway\.cilium/,
    );
  });

  it('made only the API calls its access table declares, deletion of a slot included', () => {
    const made = new Set<string>();
    for (const r of fx.api?.requests ?? []) {
      if (r.user !== op.identity) continue;
      const access = requestAccess(r.method, r.path, r.watch);
      if (!access) continue;
      const rule = ACCESS.find((a) => a.group === access.group && a.resource === access.resource);
      assert.ok(rule && (rule.verbs as string[]).includes(access.verb), JSON.stringify(access));
      made.add(`${access.group}/${access.resource}:${access.verb}`);
    }
    assert.ok(made.has('apps/statefulsets:delete'));
    for (const verb of ['list', 'create', 'delete']) {
      assert.ok(made.has(`cilium.io/ciliumegressgatewaypolicies:${verb}`), verb);
    }
    assert.ok(made.has('/nodes:watch'));
  });
});
