/** docs/operator.md is what operators of the operator read: it must not fall behind the code. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { METRICS } from '@hikyaku/core';
import { ACCESS } from './access.ts';
import { REASONS } from './errors.ts';
import { EVENT_REASONS } from './events.ts';

const doc = readFileSync(new URL('../../docs/operator.md', import.meta.url), 'utf8');
const source = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');

describe('docs/operator.md', () => {
  it('documents every configuration variable', () => {
    const names = new Set(
      [
        ...source('./config.ts').matchAll(/\(\s*'((?:HIKYAKU_|NATS_|REDIS_|KUBECONFIG)[A-Z_]*)'/g),
      ].map((m) => m[1] as string),
    );
    assert.ok(names.size > 30, 'the variables were found');
    const missing = [...names].filter((n) => !doc.includes(`\`${n}\``));
    assert.deepEqual(missing, []);
  });

  it('documents every condition reason and Event reason', () => {
    const missing = [...Object.values(REASONS), ...Object.values(EVENT_REASONS)].filter(
      (r) => !doc.includes(`| \`${r}\` |`),
    );
    assert.deepEqual(missing, []);
  });

  it('lists the access table, rule for rule', () => {
    for (const rule of ACCESS) {
      const group = rule.group === '' ? 'core (`""`)' : `\`${rule.group}\``;
      const row = `| ${group} | \`${rule.resource}\` | ${rule.verbs.join(', ')} | ${rule.scope} |`;
      assert.ok(doc.includes(row), `missing row: ${row}`);
    }
  });

  it('lists every operator metric', () => {
    const missing = Object.entries(METRICS)
      .filter(([key]) => key.startsWith('operator'))
      .map(([, name]) => name)
      .filter((name) => !doc.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });
});
