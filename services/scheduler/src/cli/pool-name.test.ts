import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CompiledPool } from '@hikyaku/core';
import { choosePool } from './pool-name.ts';

const pool = (namespace: string, name: string) =>
  ({ key: `${namespace}_${name}`, namespace, name }) as CompiledPool;
const pools = [pool('local', 'local-demo'), pool('mail', 'tx'), pool('other', 'tx')];

test('a pool is named by its key, namespace/name, or its name when that is unique', () => {
  for (const value of ['local_local-demo', 'local/local-demo', 'local-demo']) {
    assert.deepEqual(choosePool(value, pools), { kind: 'found', key: 'local_local-demo' });
  }
  assert.deepEqual(choosePool('mail/tx', pools), { kind: 'found', key: 'mail_tx' });
  assert.deepEqual(choosePool('tx', pools), {
    kind: 'ambiguous',
    candidates: ['mail/tx', 'other/tx'],
  });
  assert.equal(choosePool('local-dmeo', pools).kind, 'unknown');
});
