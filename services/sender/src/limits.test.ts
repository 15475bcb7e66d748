import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS, limitsForPool } from './limits.ts';

describe('limitsForPool', () => {
  it('uses the built-in catch-all without policies: 10 connections, 100 messages each', () => {
    const limits = limitsForPool({ ratePolicies: [] })('default');
    assert.deepEqual(limits, DEFAULT_LIMITS);
    assert.equal(limits.connections, 10);
    assert.equal(limits.messagesPerConnection, 100);
    assert.equal(limits.tls, 'opportunistic');
  });

  it('finds a policy by name, inheriting what it leaves out from the default policy', () => {
    const lookup = limitsForPool({
      ratePolicies: [
        { name: 'default', perIp: { connections: 4 }, tls: 'required' },
        {
          name: 'docomo',
          match: { domains: ['docomo.ne.jp'] },
          perIp: { messagesPerConnection: 20 },
        },
      ],
    });
    assert.deepEqual(lookup('docomo'), {
      policy: 'docomo',
      connections: 4,
      messagesPerConnection: 20,
      recipientsPerMessage: 100,
      tls: 'required',
    });
  });

  it('gives a name the pool no longer has the default policy', () => {
    const lookup = limitsForPool({
      ratePolicies: [{ name: 'default', perIp: { connections: 3 } }],
    });
    assert.equal(lookup('removed').policy, 'default');
    assert.equal(lookup('removed').connections, 3);
  });

  it('throws on policies that do not resolve', () => {
    assert.throws(() => limitsForPool({ ratePolicies: [{ name: 'no-match' }] }));
  });
});
