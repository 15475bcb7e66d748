import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateRelayPoolSpec } from './schema.ts';

function pool(egress: unknown, ips: unknown[], senders?: unknown): Record<string, unknown> {
  return { ips, ...(egress ? { egress } : {}), ...(senders ? { senders } : {}) };
}

const ip = (address: string, node?: string) => ({
  address,
  hostname: `mta-${address.replaceAll(/[.:]/g, '-')}.example.com`,
  ...(node ? { node } : {}),
});

function messages(spec: unknown): string[] {
  return validateRelayPoolSpec(spec).map((i) => `${i.field}: ${i.message}`);
}

describe('spec.egress', () => {
  it('accepts each mode in the shape it needs', () => {
    const accepted = [
      pool({ mode: 'hostNetwork' }, [ip('203.0.113.10', 'egress-a'), ip('203.0.113.11', 'b')]),
      pool({ mode: 'multus', multus: { network: 'egress-net' } }, [ip('203.0.113.10')]),
      pool(
        {
          mode: 'multus',
          multus: { network: 'egress-net', namespace: 'net', interface: 'mail0' },
        },
        [ip('203.0.113.10'), ip('2001:db8::10')],
        { ipsPerPod: 2 },
      ),
      pool({ mode: 'gateway' }, [ip('203.0.113.10')]),
      pool(
        {
          mode: 'gateway',
          gateway: {
            cilium: {
              nodeSelector: { 'hikyaku.io/egress': 'true' },
              destinationCIDRs: ['0.0.0.0/0'],
            },
          },
        },
        [ip('203.0.113.10')],
        { ipsPerPod: 1 },
      ),
    ];
    for (const spec of accepted) assert.deepEqual(messages(spec), [], JSON.stringify(spec));
  });

  const rejected: [string, Record<string, unknown>, RegExp][] = [
    [
      'hostNetwork with an IP that names no node',
      pool({ mode: 'hostNetwork' }, [ip('203.0.113.10', 'egress-a'), ip('203.0.113.11')]),
      /^spec\.ips: .*every IP names the node that holds it/,
    ],
    [
      'a node outside hostNetwork',
      pool({ mode: 'gateway' }, [ip('203.0.113.10', 'egress-a')]),
      /^spec\.ips: .*ips\[\]\.node is read only in egress mode hostNetwork/,
    ],
    [
      'a node without egress',
      pool(undefined, [ip('203.0.113.10', 'egress-a')]),
      /^spec\.ips: .*ips\[\]\.node is read only in egress mode hostNetwork/,
    ],
    [
      'multus without its network',
      pool({ mode: 'multus' }, [ip('203.0.113.10')]),
      /^spec\.egress: .*egress\.multus is required in mode multus/,
    ],
    [
      'multus settings in another mode',
      pool({ mode: 'gateway', multus: { network: 'n' } }, [ip('203.0.113.10')]),
      /^spec\.egress: .*allowed only there/,
    ],
    [
      'gateway settings in another mode',
      pool({ mode: 'multus', multus: { network: 'n' }, gateway: {} }, [ip('203.0.113.10')]),
      /^spec\.egress: .*egress\.gateway is allowed only in mode gateway/,
    ],
    [
      'a gateway pod with two IPs',
      pool({ mode: 'gateway' }, [ip('203.0.113.10'), ip('203.0.113.11')], { ipsPerPod: 2 }),
      /^spec\.senders\.ipsPerPod: .*one IP/,
    ],
    [
      'an unknown mode',
      pool({ mode: 'hostPort' }, [ip('203.0.113.10')]),
      /^spec\.egress\.mode: Unsupported value: "hostPort"/,
    ],
    [
      'a cilium policy without gateway nodes',
      pool({ mode: 'gateway', gateway: { cilium: {} } }, [ip('203.0.113.10')]),
      /^spec\.egress\.gateway\.cilium\.nodeSelector: Required value/,
    ],
    [
      'a bad destination network',
      pool(
        {
          mode: 'gateway',
          gateway: { cilium: { nodeSelector: { a: 'b' }, destinationCIDRs: ['x'] } },
        },
        [ip('203.0.113.10')],
      ),
      /^spec\.egress\.gateway\.cilium\.destinationCIDRs\[0\]: .*CIDR/,
    ],
    [
      'a node name that is no DNS subdomain',
      pool({ mode: 'hostNetwork' }, [ip('203.0.113.10', 'Egress_A')]),
      /^spec\.ips\[0\]\.node: /,
    ],
  ];
  for (const [what, spec, expected] of rejected) {
    it(`refuses ${what}, saying why`, () => {
      const found = messages(spec);
      assert.ok(
        found.some((m) => expected.test(m)),
        found.join('\n'),
      );
    });
  }
});
