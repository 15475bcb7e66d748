/**
 * The complaint-rate alerts as Prometheus reads them: promtool checks the rendered rules,
 * then runs them over level gauges shaped like the scheduler's complaint guard (sender
 * domains and submitters over their warning line, over their stop line, back to normal) and
 * expects the warning, the critical alert and silence respectively.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { promtoolIn, type RenderedRules, renderRules } from './promtool.ts';

let dir: string;
let rulesFile: string;
let annotations: RenderedRules['annotations'];

before(async () => {
  ({ dir, rulesFile, annotations } = await renderRules('hikyaku-promtool-complaints-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const promtool = (args: string[]) => promtoolIn(dir, args);

/** One alert as promtool expects it: its labels and its annotations expanded for them. */
function alert(alertname: string, severity: string, labels: Record<string, string>) {
  const a = annotations.get(alertname);
  assert.ok(a, `${alertname} is in the rendered rule`);
  const summary = a.summary.replace(
    /\{\{ \$labels\.(\w+) \}\}/g,
    (_, k: string) => labels[k] ?? '',
  );
  return {
    exp_labels: { severity, ...labels },
    exp_annotations: { summary, description: a.description },
  };
}

test('promtool accepts the rendered rules with the complaint alerts', async () => {
  const { code, output } = await promtool(['check', 'rules', rulesFile]);
  assert.equal(code, 0, output);
  assert.ok(annotations.has('HikyakuComplaintRateHigh'));
  assert.ok(annotations.has('HikyakuComplaintRateOverStop'));
  assert.ok(annotations.has('HikyakuSubmitterComplaintRateHigh'));
  assert.ok(annotations.has('HikyakuSubmitterComplaintRateOverStop'));
});

test('a sender domain or submitter over its warning line warns, over its stop line pages, under it is quiet', async () => {
  const pool = 'mail_news';
  const level = (domain: string) =>
    `hikyaku_scheduler_sender_domain_complaint_level{pool="${pool}",sender_domain="${domain}"}`;
  const submitter = (name: string) =>
    `hikyaku_scheduler_submitter_complaint_level{pool="${pool}",submitter="${name}"}`;
  const tests = {
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          { series: level('warn.example'), values: '1x30' },
          { series: level('stop.example'), values: '2x30' },
          // Back under the warning line after a while: the alert must not stay.
          { series: level('calm.example'), values: '1x3 0x27' },
          { series: submitter('campaigns'), values: '2x30' },
          { series: submitter('billing'), values: '1x30' },
          { series: submitter('alerts'), values: '0x30' },
        ],
        alert_rule_test: [
          {
            eval_time: '20m',
            alertname: 'HikyakuComplaintRateHigh',
            exp_alerts: [
              alert('HikyakuComplaintRateHigh', 'warning', {
                pool,
                sender_domain: 'warn.example',
              }),
            ],
          },
          {
            eval_time: '20m',
            alertname: 'HikyakuComplaintRateOverStop',
            exp_alerts: [
              alert('HikyakuComplaintRateOverStop', 'critical', {
                pool,
                sender_domain: 'stop.example',
              }),
            ],
          },
          {
            eval_time: '20m',
            alertname: 'HikyakuSubmitterComplaintRateHigh',
            exp_alerts: [
              alert('HikyakuSubmitterComplaintRateHigh', 'warning', { pool, submitter: 'billing' }),
            ],
          },
          {
            eval_time: '20m',
            alertname: 'HikyakuSubmitterComplaintRateOverStop',
            exp_alerts: [
              alert('HikyakuSubmitterComplaintRateOverStop', 'critical', {
                pool,
                submitter: 'campaigns',
              }),
            ],
          },
          // Not yet: a level must hold for 5 minutes before it is news.
          { eval_time: '3m', alertname: 'HikyakuComplaintRateHigh', exp_alerts: [] },
          { eval_time: '3m', alertname: 'HikyakuComplaintRateOverStop', exp_alerts: [] },
        ],
      },
    ],
  };
  const testFile = join(dir, 'tests.yaml');
  writeFileSync(testFile, stringify(tests));
  const { code, output } = await promtool(['test', 'rules', testFile]);
  assert.equal(code, 0, output);
});
