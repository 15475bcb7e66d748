import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNullMx, orderMx, type Rng } from './mx-order.ts';

/** A small seeded generator, so that "random" orders are reproducible. */
function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('orderMx', () => {
  it('orders hosts by preference, lowest first', () => {
    const hosts = orderMx(
      [
        { exchange: 'c.example', priority: 30 },
        { exchange: 'a.example', priority: 10 },
        { exchange: 'b.example', priority: 20 },
      ],
      seededRng(1),
    );
    assert.deepEqual(hosts, [
      { host: 'a.example', preference: 10 },
      { host: 'b.example', preference: 20 },
      { host: 'c.example', preference: 30 },
    ]);
  });

  it('orders hosts of equal preference at random, and only among themselves', () => {
    const records = [
      { exchange: 'backup.example', priority: 20 },
      { exchange: 'one.example', priority: 10 },
      { exchange: 'two.example', priority: 10 },
    ];
    const orders = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const hosts = orderMx(records, seededRng(seed)).map((h) => h.host);
      assert.equal(hosts[2], 'backup.example');
      orders.add(hosts.join(' '));
    }
    assert.deepEqual([...orders].sort(), [
      'one.example two.example backup.example',
      'two.example one.example backup.example',
    ]);
  });

  it('drops root exchanges, the trailing dot, case and duplicates', () => {
    const hosts = orderMx(
      [
        { exchange: 'MX.Example.', priority: 20 },
        { exchange: 'mx.example', priority: 5 },
        { exchange: '', priority: 0 },
      ],
      seededRng(1),
    );
    assert.deepEqual(hosts, [{ host: 'mx.example', preference: 5 }]);
  });
});

describe('isNullMx', () => {
  it('is a lone MX with the root as exchange', () => {
    assert.equal(isNullMx([{ exchange: '', priority: 0 }]), true);
    assert.equal(isNullMx([{ exchange: '.', priority: 0 }]), true);
  });

  it('is not a root exchange next to real hosts, nor an empty answer', () => {
    assert.equal(
      isNullMx([
        { exchange: '', priority: 0 },
        { exchange: 'mx.example', priority: 10 },
      ]),
      false,
    );
    assert.equal(isNullMx([]), false);
  });
});
