/**
 * The chart's alerting rules through promtool, as Prometheus would load them: `check
 * rules` on the rendered groups, and `test rules` with series of a cluster where a
 * component is down — the case in which an alert computed from that component's metrics
 * has nothing to compare and would stay silent without absent().
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { find, MONITORING_API, render } from './helm.ts';

const run = promisify(execFile);
const PROMTOOL = process.env.HIKYAKU_PROMTOOL ?? 'promtool';

async function promtool(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(PROMTOOL, args);
    return { code: 0, out: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error(`${PROMTOOL} is not installed (apt-get install prometheus)`);
    return { code: Number(e.code ?? 1), out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let dir: string;
let rulesFile: string;
/** The same rules without annotations, which unit tests would otherwise have to repeat. */
let bareRulesFile: string;

type Group = { name: string; rules: Record<string, unknown>[] };

before(async () => {
  const rule = find(await render({ apiVersions: [MONITORING_API] }), 'PrometheusRule');
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-alerts-'));
  rulesFile = join(dir, 'rules.yaml');
  bareRulesFile = join(dir, 'rules-bare.yaml');
  const groups = (rule.spec as { groups: Group[] }).groups;
  writeFileSync(rulesFile, stringify({ groups }));
  const bare = groups.map((g) => ({
    ...g,
    rules: g.rules.map(({ annotations: _, ...r }) => r),
  }));
  writeFileSync(bareRulesFile, stringify({ groups: bare }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A series sampled every minute for 15 minutes at one value. */
const running = (metric: string, labels: string, value = 1) => ({
  series: `${metric}{${labels}}`,
  values: `${value}x15`,
});

async function testRules(tests: unknown[]): Promise<void> {
  const file = join(dir, `test-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    stringify({ rule_files: [bareRulesFile], evaluation_interval: '1m', tests }, { lineWidth: 0 }),
  );
  const result = await promtool(['test', 'rules', file]);
  assert.equal(result.code, 0, result.out);
}

const ingress = running('hikyaku_process_start_time_seconds', 'component="ingress"', 1e9);
const scheduler = running('hikyaku_process_start_time_seconds', 'component="scheduler"', 1e9);

describe('alerting rules', () => {
  it('load in Prometheus (promtool check rules)', async () => {
    const result = await promtool(['check', 'rules', rulesFile]);
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /SUCCESS: \d+ rules found/);
  });

  it('HikyakuOperatorNoLeader fires with no operator scraped, and with no leader', async () => {
    await testRules([
      {
        interval: '1m',
        input_series: [ingress, scheduler],
        alert_rule_test: [
          {
            eval_time: '10m',
            alertname: 'HikyakuOperatorNoLeader',
            exp_alerts: [{ exp_labels: { severity: 'warning' } }],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [
          ingress,
          scheduler,
          running('hikyaku_operator_is_leader', 'component="operator", pod="op-a"', 0),
          running('hikyaku_operator_is_leader', 'component="operator", pod="op-b"', 0),
        ],
        alert_rule_test: [
          {
            eval_time: '10m',
            alertname: 'HikyakuOperatorNoLeader',
            exp_alerts: [{ exp_labels: { severity: 'warning' } }],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [
          ingress,
          scheduler,
          running('hikyaku_operator_is_leader', 'component="operator", pod="op-a"', 1),
          running('hikyaku_operator_is_leader', 'component="operator", pod="op-b"', 0),
        ],
        alert_rule_test: [{ eval_time: '10m', alertname: 'HikyakuOperatorNoLeader' }],
      },
    ]);
  });

  it('HikyakuComponentDown names the component that is not scraped, and is quiet otherwise', async () => {
    await testRules([
      {
        interval: '1m',
        input_series: [scheduler],
        alert_rule_test: [
          {
            eval_time: '10m',
            alertname: 'HikyakuComponentDown',
            exp_alerts: [{ exp_labels: { severity: 'critical', component: 'ingress' } }],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [ingress, scheduler],
        alert_rule_test: [{ eval_time: '10m', alertname: 'HikyakuComponentDown' }],
      },
    ]);
  });
});
