/**
 * The chart's parts of the reputation guard. Its alerts, as Prometheus reads them: promtool
 * checks the rendered rules, then runs them over series shaped like the scheduler's (a
 * paused IP, a listed IP, a pool with every IP paused, a failing check) and over healthy
 * series, which must stay quiet; and the scheduler's resolvers for the checks.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { find, render } from './helm.ts';
import { promtoolIn, type RenderedRules, renderRules } from './promtool.ts';

let dir: string;
let rulesFile: string;
let annotations: RenderedRules['annotations'];

before(async () => {
  ({ dir, rulesFile, annotations } = await renderRules('hikyaku-promtool-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const promtool = (args: string[]) => promtoolIn(dir, args);

test('promtool accepts the rendered rules', async () => {
  const { code, output } = await promtool(['check', 'rules', rulesFile]);
  assert.equal(code, 0, output);
});

test('the reputation alerts fire on a paused, listed or unresolvable IP and stay quiet otherwise', async () => {
  const pool = 'mail_tx';
  // The annotations as Prometheus expands them: the summary names the alert's labels.
  const expanded = (alertname: string, labels: Record<string, string>) => {
    const a = annotations.get(alertname);
    assert.ok(a, `${alertname} is in the rendered rule`);
    const summary = a.summary.replace(
      /\{\{ \$labels\.(\w+) \}\}/g,
      (_, k: string) => labels[k] ?? '',
    );
    return { summary, description: a.description };
  };
  const fired = (alertname: string, labels: Record<string, string>) => ({
    eval_time: '70m',
    alertname,
    exp_alerts: [
      {
        exp_labels: { severity: alertname.includes('AllIps') ? 'critical' : 'warning', ...labels },
        exp_annotations: expanded(alertname, labels),
      },
    ],
  });
  const tests = {
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          {
            series: `hikyaku_ip_paused{pool="${pool}",ip="203.0.113.7",reason="listed"}`,
            values: '1x80',
          },
          {
            series: `hikyaku_ip_listed{pool="${pool}",ip="203.0.113.7",zone="zen.spamhaus.org"}`,
            values: '1x80',
          },
          { series: `hikyaku_ip_ptr_mismatch{pool="${pool}",ip="203.0.113.8"}`, values: '1x80' },
          { series: `hikyaku_ip_ptr_mismatch{pool="${pool}",ip="203.0.113.7"}`, values: '0x80' },
          { series: `hikyaku_pool_all_ips_paused{pool="${pool}"}`, values: '1x80' },
          { series: 'hikyaku_pool_all_ips_paused{pool="mail_bulk"}', values: '0x80' },
          {
            series:
              'hikyaku_reputation_check_failures_total{check="dnsbl",zone="zen.spamhaus.org"}',
            values: '0+1x80',
          },
          {
            series: 'hikyaku_reputation_check_failures_total{check="dnsbl",zone="bl.spamcop.net"}',
            values: '0x80',
          },
        ],
        alert_rule_test: [
          fired('HikyakuIpPaused', { pool, ip: '203.0.113.7', reason: 'listed' }),
          fired('HikyakuIpListed', { pool, ip: '203.0.113.7', zone: 'zen.spamhaus.org' }),
          fired('HikyakuIpPtrMismatch', { pool, ip: '203.0.113.8' }),
          fired('HikyakuPoolAllIpsPaused', { pool }),
          fired('HikyakuReputationChecksFailing', { check: 'dnsbl', zone: 'zen.spamhaus.org' }),
          // Not yet: a pause must last 5 minutes before it is news.
          { eval_time: '3m', alertname: 'HikyakuIpPaused', exp_alerts: [] },
        ],
      },
    ],
  };
  const testFile = join(dir, 'tests.yaml');
  writeFileSync(testFile, stringify(tests));
  const { code, output } = await promtool(['test', 'rules', testFile]);
  assert.equal(code, 0, output);
});

test('the scheduler is given the resolvers scheduler.reputationDnsServers names, and none by default', async () => {
  type Container = { env?: { name: string; value?: string }[] };
  const schedulerEnv = async (set: string[]) => {
    const deployment = find(await render({ set }), 'Deployment', '-scheduler');
    const spec = deployment.spec as { template: { spec: { containers: Container[] } } };
    return spec.template.spec.containers[0]?.env ?? [];
  };
  const named = await schedulerEnv(['scheduler.reputationDnsServers={10.0.0.53,10.0.0.54:5353}']);
  assert.equal(
    named.find((e) => e.name === 'HIKYAKU_REPUTATION_DNS_SERVERS')?.value,
    '10.0.0.53,10.0.0.54:5353',
  );
  const plain = await schedulerEnv([]);
  assert.equal(
    plain.find((e) => e.name === 'HIKYAKU_REPUTATION_DNS_SERVERS'),
    undefined,
  );
});
