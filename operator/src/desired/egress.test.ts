import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readOperatorConfig } from '../config.ts';
import type { RelayPoolObject } from '../kube/objects.ts';
import {
  buildCiliumPolicies,
  EGRESS_ANNOTATIONS,
  EGRESS_LABELS,
  egressIpLabel,
  slotShape,
} from './egress.ts';
import { chooseHostPort, parsePortRange } from './host-ports.ts';
import { nodeUnavailableReason } from './nodes.ts';
import { senderLabels } from './ownership.ts';
import { buildSenderStatefulSet } from './statefulset.ts';

function pool(egress: RelayPoolObject['spec']['egress']): RelayPoolObject {
  return {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'tx', namespace: 'mail', uid: 'u1', resourceVersion: '1', generation: 1 },
    spec: {
      ips: [
        { address: '203.0.113.10', hostname: 'mta1.example.com' },
        { address: '2001:db8::10', hostname: 'mta2.example.com' },
      ],
      ...(egress ? { egress } : {}),
    },
  };
}

describe('slotShape', () => {
  it('pins a hostNetwork slot to its node and gives it its host port', () => {
    const shape = slotShape(
      pool({ mode: 'hostNetwork' }),
      { index: 3, group: 'egress-a', addresses: ['203.0.113.10'] },
      9201,
    );
    assert.equal(shape.name, 'tx-s3');
    assert.equal(shape.hostNetwork, true);
    assert.equal(shape.httpPort, 9201);
    assert.deepEqual(shape.selectorLabels, { [EGRESS_LABELS.slot]: 's3' });
    assert.equal(shape.statefulSetAnnotations[EGRESS_ANNOTATIONS.node], 'egress-a');
    assert.deepEqual(
      shape.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        ?.nodeSelectorTerms,
      [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['egress-a'] }] }],
    );
  });

  it('asks Multus for the slot addresses on the named network, with their prefix lengths', () => {
    const shape = slotShape(
      pool({
        mode: 'multus',
        multus: { network: 'egress-net', interface: 'mail0', ipv4PrefixLength: 24 },
      }),
      { index: 0, group: '', addresses: ['203.0.113.10', '2001:db8::10'] },
    );
    assert.equal(shape.hostNetwork, false);
    assert.equal(shape.affinity, undefined);
    assert.deepEqual(JSON.parse(shape.podAnnotations[EGRESS_ANNOTATIONS.networks] ?? ''), [
      {
        name: 'egress-net',
        namespace: 'mail',
        interface: 'mail0',
        ips: ['203.0.113.10/24', '2001:db8::10/128'],
      },
    ]);
  });

  it('labels a gateway pod with its IP', () => {
    const shape = slotShape(pool({ mode: 'gateway' }), {
      index: 1,
      group: '',
      addresses: ['2001:db8::10'],
    });
    assert.equal(shape.hostNetwork, false);
    assert.deepEqual(shape.podLabels, { [EGRESS_LABELS.egressIp]: '2001-db8--10' });
  });
});

describe('buildCiliumPolicies', () => {
  it('keeps one policy per IP only when asked', () => {
    assert.deepEqual(buildCiliumPolicies(pool({ mode: 'gateway' })), []);
    const policies = buildCiliumPolicies(
      pool({ mode: 'gateway', gateway: { cilium: { nodeSelector: { egress: 'mail' } } } }),
    );
    assert.deepEqual(
      policies.map((p) => p.metadata.name),
      ['hikyaku-mail-tx-203-0-113-10', 'hikyaku-mail-tx-2001-db8--10'],
    );
    assert.deepEqual(policies[1]?.spec, {
      selectors: [
        {
          podSelector: {
            matchLabels: {
              'io.kubernetes.pod.namespace': 'mail',
              'hikyaku.io/pool': 'tx',
              [EGRESS_LABELS.egressIp]: egressIpLabel('2001:db8::10'),
            },
          },
        },
      ],
      destinationCIDRs: ['0.0.0.0/0'],
      egressGateway: {
        nodeSelector: { matchLabels: { egress: 'mail' } },
        egressIP: '2001:db8::10',
      },
    });
  });
});

describe('chooseHostPort', () => {
  const range = { min: 9200, max: 9202 };
  const claims = [
    { node: 'a', port: 9200, owner: 'mail/tx-s0' },
    { node: 'a', port: 9201, owner: 'news/mk-s0' },
    { node: 'b', port: 9202, owner: 'news/mk-s1' },
  ];

  it('gives a new slot the lowest port nobody on its node holds', () => {
    assert.equal(chooseHostPort('a', 'mail/tx-s1', claims, range), 9202);
    assert.equal(chooseHostPort('b', 'mail/tx-s1', claims, range), 9200);
  });

  it('keeps a slot on its port unless another slot on the node holds it', () => {
    assert.equal(chooseHostPort('a', 'mail/tx-s0', claims, range, 9200), 9200);
    assert.equal(chooseHostPort('a', 'mail/tx-s2', claims, range, 9201), 9202);
  });

  it('answers undefined when the range is used up on the node', () => {
    const full = [...claims, { node: 'a', port: 9202, owner: 'x/y-s0' }];
    assert.equal(chooseHostPort('a', 'mail/tx-s9', full, range), undefined);
  });

  it('reads a range or a single port', () => {
    assert.deepEqual(parsePortRange('9200-9299'), { min: 9200, max: 9299 });
    assert.deepEqual(parsePortRange('9200'), { min: 9200, max: 9200 });
    assert.equal(parsePortRange('9300-9200'), undefined);
    assert.equal(parsePortRange('0-10'), undefined);
    assert.equal(parsePortRange('http'), undefined);
  });
});

describe('nodeUnavailableReason', () => {
  it('says why a node cannot run its sender pod', () => {
    const ready = { type: 'Ready', status: 'True' };
    assert.equal(nodeUnavailableReason('a', { status: { conditions: [ready] } }), undefined);
    assert.match(nodeUnavailableReason('a', undefined) ?? '', /does not exist/);
    assert.match(
      nodeUnavailableReason('a', {
        spec: { unschedulable: true },
        status: { conditions: [ready] },
      }) ?? '',
      /cordoned/,
    );
    assert.match(
      nodeUnavailableReason('a', {
        status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] },
      }) ?? '',
      /not Ready \(NodeStatusUnknown\)/,
    );
  });
});

describe('a slot StatefulSet', () => {
  const config = readOperatorConfig({
    HIKYAKU_SENDER_IMAGE: 'registry.example/hikyaku:1.2.3',
    HIKYAKU_LEADER_ELECTION: 'false',
  });

  it('runs one pod in the node network, on its node, with its own host port', () => {
    const p = pool({ mode: 'hostNetwork' });
    p.spec.senders = { template: { spec: { hostNetwork: false, nodeSelector: { pool: 'mail' } } } };
    const sts = buildSenderStatefulSet({
      pool: p,
      replicas: 1,
      sender: config.sender,
      dkimSecrets: [],
      dkimVersion: '',
      slot: slotShape(p, { index: 1, group: 'egress-b', addresses: ['203.0.113.10'] }, 9207),
    });
    const podSpec = sts.spec?.template.spec;
    const container = podSpec?.containers[0];
    assert.equal(sts.metadata?.name, 'tx-s1');
    assert.equal(sts.spec?.replicas, 1);
    assert.deepEqual(sts.spec?.selector.matchLabels, {
      ...senderLabels('tx'),
      [EGRESS_LABELS.slot]: 's1',
    });
    assert.equal(sts.spec?.template.metadata?.labels?.[EGRESS_LABELS.slot], 's1');
    assert.equal(podSpec?.hostNetwork, true, 'the mode wins over the template');
    assert.equal(podSpec?.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(podSpec?.nodeSelector, { pool: 'mail' }, 'the template still applies');
    assert.deepEqual(container?.ports, [
      { name: 'metrics', containerPort: 9207, hostPort: 9207, protocol: 'TCP' },
    ]);
    assert.equal(container?.env?.find((e) => e.name === 'HIKYAKU_HTTP_PORT')?.value, '9207');
    assert.equal(sts.spec?.template.metadata?.annotations?.['prometheus.io/port'], '9207');
  });

  it('keeps a multus or gateway pod off the node network, whatever the template says', () => {
    const p = pool({ mode: 'gateway' });
    p.spec.senders = { template: { spec: { hostNetwork: true } } };
    const sts = buildSenderStatefulSet({
      pool: p,
      replicas: 1,
      sender: config.sender,
      dkimSecrets: [],
      dkimVersion: '',
      slot: slotShape(p, { index: 0, group: '', addresses: ['203.0.113.10'] }),
    });
    assert.equal(sts.spec?.template.spec?.hostNetwork, false);
    assert.equal(sts.spec?.template.spec?.containers[0]?.ports?.[0]?.hostPort, undefined);
    assert.equal(sts.spec?.template.metadata?.labels?.[EGRESS_LABELS.egressIp], '203.0.113.10');
  });
});
