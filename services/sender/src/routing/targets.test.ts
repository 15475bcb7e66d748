import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AllTargetsFailedError } from './errors.ts';
import type { Route } from './resolver.ts';
import { type Target, targetsOf, tryTargets } from './targets.ts';

const route: Route = {
  domain: 'example.test',
  source: 'mx',
  candidates: [
    { host: 'mx1.example.test', port: 25, addresses: ['127.0.0.11', '::1'], preference: 10 },
    { host: 'mx2.example.test', port: 25, addresses: ['127.0.0.11', '127.0.0.12'], preference: 20 },
  ],
};

class Refused extends Error {}
class Rejected extends Error {}

describe('targetsOf', () => {
  it('walks hosts then addresses in order, each address once', () => {
    assert.deepEqual(
      [...targetsOf(route)].map((t) => `${t.host} ${t.address}`),
      ['mx1.example.test 127.0.0.11', 'mx1.example.test ::1', 'mx2.example.test 127.0.0.12'],
    );
  });
});

describe('tryTargets', () => {
  const tryNext = (err: unknown) => err instanceof Refused;

  it('moves on after a failure the sender calls temporary and returns the first success', async () => {
    const tried: string[] = [];
    const result = await tryTargets(
      route,
      async (target: Target) => {
        tried.push(target.address);
        if (target.address !== '127.0.0.12') throw new Refused(target.address);
        return `sent via ${target.host}`;
      },
      { tryNext },
    );
    assert.equal(result, 'sent via mx2.example.test');
    assert.deepEqual(tried, ['127.0.0.11', '::1', '127.0.0.12']);
  });

  it('stops at once on a failure the sender calls final', async () => {
    const tried: string[] = [];
    const rejected = new Rejected('554 go away');
    await assert.rejects(
      tryTargets(
        route,
        async (target) => {
          tried.push(target.address);
          throw rejected;
        },
        { tryNext },
      ),
      (err) => err === rejected,
    );
    assert.deepEqual(tried, ['127.0.0.11']);
  });

  it('reports every failure when the targets run out, or the limit is reached', async () => {
    const err = await tryTargets(
      route,
      async (target) => {
        throw new Refused(target.address);
      },
      { tryNext, maxTargets: 2 },
    ).catch((e: unknown) => e);
    assert.ok(err instanceof AllTargetsFailedError);
    assert.equal(err.permanent, false);
    assert.deepEqual(
      err.failures.map((f) => f.target.address),
      ['127.0.0.11', '::1'],
    );
    assert.equal((err.cause as Error).message, '::1');
  });
});
