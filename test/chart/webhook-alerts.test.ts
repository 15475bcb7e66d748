/**
 * The webhook alerts as Prometheus reads them: promtool runs the rendered rules over series
 * shaped like a sender's — a webhook whose oldest event keeps ageing, one that dropped
 * events — and over a healthy webhook, which must stay quiet.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { find, MONITORING_API, render } from './helm.ts';
import { promtoolIn, type RenderedRules, renderRules } from './promtool.ts';

let dir: string;
let rulesFile: string;
let annotations: RenderedRules['annotations'];

before(async () => {
  ({ dir, rulesFile, annotations } = await renderRules('hikyaku-promtool-webhooks-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const promtool = (args: string[]) => promtoolIn(dir, args);

test('the webhook alerts fire on an ageing backlog and on dropped events, and stay quiet otherwise', async () => {
  const pool = 'mail_tx';
  const expanded = (alertname: string, labels: Record<string, string>) => {
    const a = annotations.get(alertname);
    assert.ok(a, `${alertname} is in the rendered rule`);
    const summary = a.summary.replace(
      /\{\{ \$labels\.(\w+) \}\}/g,
      (_, k: string) => labels[k] ?? '',
    );
    return { summary, description: a.description };
  };
  const fired = (alertname: string, evalTime: string, labels: Record<string, string>) => ({
    eval_time: evalTime,
    alertname,
    exp_alerts: [
      {
        exp_labels: { severity: 'warning', ...labels },
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
          // Down since minute 0: the batch in hand ages a minute a minute.
          {
            series: `hikyaku_webhook_oldest_event_age_seconds{pool="${pool}",webhook="crm"}`,
            values: '0+60x60',
          },
          // Taking its batches: the age stays a few seconds.
          {
            series: `hikyaku_webhook_oldest_event_age_seconds{pool="${pool}",webhook="ops"}`,
            values: '2x60',
          },
          {
            series: `hikyaku_webhook_events_dropped_total{pool="${pool}",webhook="crm"}`,
            values: '0x30 5x30',
          },
          {
            series: `hikyaku_webhook_events_dropped_total{pool="${pool}",webhook="ops"}`,
            values: '0x60',
          },
        ],
        alert_rule_test: [
          // Past 900 s at minute 16, then 10 minutes pending.
          { eval_time: '20m', alertname: 'HikyakuWebhookBacklogAging', exp_alerts: [] },
          fired('HikyakuWebhookBacklogAging', '30m', { pool, webhook: 'crm' }),
          { eval_time: '20m', alertname: 'HikyakuWebhookEventsDropped', exp_alerts: [] },
          fired('HikyakuWebhookEventsDropped', '35m', { pool, webhook: 'crm' }),
        ],
      },
    ],
  };
  const testFile = join(dir, 'tests.yaml');
  writeFileSync(testFile, stringify(tests));
  const { code, output } = await promtool(['test', 'rules', testFile]);
  assert.equal(code, 0, output);
});

test('the threshold follows monitoring.prometheusRule.thresholds.webhookAgeSeconds, and the alerts can be left out', async () => {
  const rules = async (set: string[]) => {
    const rule = find(await render({ apiVersions: [MONITORING_API], set }), 'PrometheusRule');
    return (rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap(
      (g) => g.rules,
    );
  };
  const aging = (await rules(['monitoring.prometheusRule.thresholds.webhookAgeSeconds=3600'])).find(
    (r) => r.alert === 'HikyakuWebhookBacklogAging',
  );
  assert.match(aging?.expr ?? '', /> 3600\s*$/);
  const off = await rules([
    'monitoring.prometheusRule.disabledAlerts={HikyakuWebhookBacklogAging,HikyakuWebhookEventsDropped}',
  ]);
  assert.ok(!off.some((r) => r.alert.startsWith('HikyakuWebhook')));
});
