import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RelayPoolResource } from '@hikyaku/core';
import { captureRoute } from './local.ts';

function pool(routes: NonNullable<RelayPoolResource['spec']['routes']>): RelayPoolResource {
  return {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'demo' },
    spec: { ips: [{ address: '127.0.0.2', hostname: 'mta1.hikyaku.test' }], routes },
  };
}

test('the capture sink listens where the pool routes its demo domain on loopback', () => {
  assert.deepEqual(
    captureRoute(
      pool([
        { domains: ['partner.example'], host: 'gw.partner.example' },
        { domains: ['example.test'], host: '127.0.0.1', port: 2727 },
      ]),
    ),
    { host: '127.0.0.1', port: 2727, domain: 'example.test' },
  );
  assert.deepEqual(captureRoute(pool([{ domains: ['demo.test'], host: '127.0.0.9:2600' }])), {
    host: '127.0.0.9',
    port: 2600,
    domain: 'demo.test',
  });
});

test('a pool without a loopback route is refused with what local mode needs', () => {
  assert.throws(
    () => captureRoute(pool([{ domains: ['*'], host: 'smarthost.example:587' }])),
    /static route to a loopback address/,
  );
});
