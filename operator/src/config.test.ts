import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readOperatorConfig } from './config.ts';

const minimal = { HIKYAKU_SENDER_IMAGE: 'hikyaku:1', HIKYAKU_NAMESPACE: 'mail' };

describe('operator configuration', () => {
  it('has documented defaults', () => {
    const c = readOperatorConfig(minimal);
    assert.equal(c.kubeconfig, '');
    assert.equal(c.watchNamespace, '');
    assert.equal(c.httpPort, 9104);
    assert.equal(c.sender.image, 'hikyaku:1');
    assert.deepEqual(c.sender.connection, { NATS_URL: c.natsUrl, REDIS_URL: c.redisUrl });
    assert.deepEqual(c.sender.resources, {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { memory: '512Mi' },
    });
    assert.equal(c.leaderElection.enabled, true);
    assert.equal(c.leaderElection.namespace, 'mail');
    assert.equal(c.leaderElection.name, 'hikyaku-operator');
    assert.match(c.leaderElection.identity, /_[0-9a-f]{8}$/);
    assert.equal(c.leaderElection.leaseDurationMs, 15_000);
    assert.ok(Object.isFrozen(c));
  });

  it('hands the senders the NATS credentials it has', () => {
    const c = readOperatorConfig({
      ...minimal,
      NATS_TOKEN: 't0ken',
      HIKYAKU_SENDER_REDIS_URL: 'redis://:pw@redis.mail:6379',
    });
    assert.deepEqual(c.sender.connection, {
      NATS_URL: 'nats://127.0.0.1:4222',
      REDIS_URL: 'redis://:pw@redis.mail:6379',
      NATS_TOKEN: 't0ken',
    });
  });

  it('names every bad variable at once', () => {
    assert.throws(
      () =>
        readOperatorConfig({
          HIKYAKU_SENDER_CPU_REQUEST: 'lots',
          HIKYAKU_LEASE_DURATION_MS: '5000',
          HIKYAKU_LEASE_RENEW_DEADLINE_MS: '6000',
          HIKYAKU_SENDER_IMAGE_PULL_POLICY: 'Sometimes',
        }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'HIKYAKU_BAD_CONFIG');
        for (const name of [
          'HIKYAKU_SENDER_IMAGE is required',
          'HIKYAKU_SENDER_CPU_REQUEST',
          'HIKYAKU_LEASE_RENEW_DEADLINE_MS must be shorter than HIKYAKU_LEASE_DURATION_MS',
          'HIKYAKU_SENDER_IMAGE_PULL_POLICY',
          'HIKYAKU_LEASE_NAMESPACE (or HIKYAKU_NAMESPACE) is required',
        ]) {
          assert.ok(err.message.includes(name), `${name} in: ${err.message}`);
        }
        return true;
      },
    );
  });

  it('needs no lease namespace without leader election', () => {
    const c = readOperatorConfig({ HIKYAKU_SENDER_IMAGE: 'x', HIKYAKU_LEADER_ELECTION: 'false' });
    assert.equal(c.leaderElection.enabled, false);
  });
});
