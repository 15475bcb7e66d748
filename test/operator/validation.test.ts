/**
 * Invalid pools never reach the operator: the API server refuses them against the CRD's
 * schema and CEL rules, naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RelayPoolSpec } from '@hikyaku/core';
import { ApiException } from '@kubernetes/client-node';
import { basicSpec, type OperatorFixture, startOperatorFixture } from './harness.ts';

let fx: OperatorFixture;

before(async () => {
  fx = await startOperatorFixture();
});
after(() => fx.stop());

interface Refusal {
  code: number;
  reason: string;
  message: string;
  fields: (string | undefined)[];
}

async function refusal(
  spec: Partial<RelayPoolSpec>,
  name = `bad-${Math.random().toString(36).slice(2, 8)}`,
): Promise<Refusal> {
  try {
    await fx.createPool(name, spec);
  } catch (err) {
    assert.ok(err instanceof ApiException, String(err));
    const body = JSON.parse(err.body as string) as {
      code: number;
      reason: string;
      message: string;
      details?: { causes?: { field?: string }[] };
    };
    const fields = (body.details?.causes ?? []).map((c) => c.field);
    return { code: body.code, reason: body.reason, message: body.message, fields };
  }
  assert.fail('the pool was accepted');
}

describe('RelayPool validation', () => {
  it('refuses a name too long for the sender pods derived from it', async () => {
    const r = await refusal(basicSpec(1), `p${'x'.repeat(45)}`);
    assert.equal(r.code, 422);
    assert.deepEqual(r.fields, ['metadata.name']);
    assert.match(r.message, /metadata\.name: Too long: may not be more than 45 bytes/);
    const longest = `p${'x'.repeat(44)}`;
    await fx.createPool(longest, basicSpec(1));
  });

  it('refuses duplicate IP addresses', async () => {
    const r = await refusal({
      ips: [
        { address: '192.0.2.1', hostname: 'a.example.com' },
        { address: '192.0.2.1', hostname: 'b.example.com' },
      ],
    });
    assert.equal(r.code, 422);
    assert.equal(r.reason, 'Invalid');
    assert.deepEqual(r.fields, ['spec.ips']);
    assert.match(r.message, /spec\.ips: Invalid value: .*IP addresses must be unique/);
  });

  it('refuses a network that is not a CIDR', async () => {
    const r = await refusal(basicSpec(1, { allowedNetworks: ['10.0.0.0/8', '10.0.0.300/8'] }));
    assert.equal(r.code, 422);
    assert.ok(r.fields.includes('spec.allowedNetworks[1]'), String(r.fields));
    assert.match(r.message, /spec\.allowedNetworks\[1\]: Invalid value: .*CIDR/);
  });

  it('refuses warm-up days that do not increase', async () => {
    const r = await refusal(
      basicSpec(1, {
        warmup: {
          schedule: [
            { day: 1, dailyLimit: 50 },
            { day: 7, dailyLimit: 500 },
            { day: 3, dailyLimit: 1000 },
          ],
        },
      }),
    );
    assert.equal(r.code, 422);
    assert.deepEqual(r.fields, ['spec.warmup.schedule']);
    assert.match(
      r.message,
      /spec\.warmup\.schedule: Invalid value: .*days must be strictly increasing/,
    );
  });

  it('refuses a pool without required fields, naming each', async () => {
    const r = await refusal({
      ips: [{ address: '192.0.2.1' } as RelayPoolSpec['ips'][number]],
      submitters: [{} as NonNullable<RelayPoolSpec['submitters']>[number]],
    });
    assert.equal(r.code, 422);
    assert.ok(r.fields.includes('spec.ips[0].hostname'), String(r.fields));
    assert.ok(r.fields.includes('spec.submitters[0].username'), String(r.fields));
    assert.match(r.message, /spec\.ips\[0\]\.hostname: Required value/);
    const none = await refusal({});
    assert.ok(none.fields.includes('spec.ips'), String(none.fields));
    assert.match(none.message, /spec\.ips: Required value/);
  });

  it('refuses malformed routes', async () => {
    const r = await refusal(
      basicSpec(1, {
        routes: [{ domains: ['*', 'example.com'], host: 'mx.example.net:2525', port: 25 }],
      }),
    );
    assert.equal(r.code, 422);
    assert.ok(r.fields.includes('spec.routes[0]'), String(r.fields));
    assert.ok(r.fields.includes('spec.routes[0].domains'), String(r.fields));
  });
});
