/**
 * The chart's PrometheusRule and Grafana dashboard select only series the services really
 * export. The services run as processes (the local stack of test/harness/relay.ts, the
 * operator against the Kubernetes API stand-in), one message goes through so that
 * labelled series exist, and each /metrics is scraped; every metric an alert or a panel
 * names must be there, with the labels its selectors match on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ServiceContext } from '@hikyaku/core';
import { runOperator } from '@hikyaku/operator';
import { freePort, waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';
import { type KubeStandin, startKubeStandin } from '../kube/index.ts';
import { CHART_DIR, find, type KubeObject, MONITORING_API, render } from './helm.ts';
import { type Exposition, parseExposition, type Selector, selectors } from './promql.ts';

let relay: RelayFixture;
let api: KubeStandin;
let operator: ServiceContext;
let operatorPort: number;
let workDir: string;
const exposition: Exposition = { series: new Map() };

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: ${res.statusCode}`)),
      );
    }).on('error', reject);
  });
}

/** A session that gives a bad sender, so that the refusal counter has a labelled series. */
function refusedSession(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const lines = ['EHLO client.hikyaku.test', 'MAIL FROM:<not an address>', 'QUIT'];
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      // Send the next command after each complete final reply line ("250 ", "501 ", ...).
      while (/^\d{3} .*\r\n/m.test(buffer)) {
        buffer = buffer.replace(/^[\s\S]*?^\d{3} .*\r\n/m, '');
        const next = lines.shift();
        if (next) socket.write(`${next}\r\n`);
      }
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'hikyaku-chart-metrics-'));
  relay = await startRelayFixture();
  const client = relayClient(relay.stack, 1);
  const raw = rawMessage({
    from: 'app@hikyaku.test',
    to: 'metrics@example.test',
    marker: 'metrics-1',
  });
  await client.sendMail({
    envelope: { from: 'app@hikyaku.test', to: ['metrics@example.test'] },
    raw,
  });
  client.close();
  await waitFor('the delivery', () => relay.events.some((e) => e.type === 'delivered'), {
    timeoutMs: 30_000,
  });
  await refusedSession(relay.stack.smtpHost, relay.stack.smtpPort);

  // The operator as its pod runs it (in this process: a child would only add start-up
  // time), against the API stand-in, with one RelayPool to own.
  api = await startKubeStandin({
    crdFiles: [join(CHART_DIR, 'crds/relaypools.hikyaku.io.yaml')],
    simulateControllers: true,
  });
  const kubeconfig = join(workDir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig, 'hikyaku');
  api.store.put({
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'metrics', namespace: 'mail' },
    spec: { ips: [{ address: '192.0.2.10', hostname: 'mta1.hikyaku.test' }] },
  });
  operatorPort = await freePort();
  operator = await runOperator(
    {
      KUBECONFIG: kubeconfig,
      NATS_URL: relay.stack.natsUrl,
      REDIS_URL: relay.stack.redisUrl,
      HIKYAKU_NAMESPACE: 'hikyaku',
      HIKYAKU_SENDER_IMAGE: 'hikyaku:test',
      HIKYAKU_HTTP_HOST: '127.0.0.1',
      HIKYAKU_HTTP_PORT: String(operatorPort),
      HIKYAKU_LOG_LEVEL: 'error',
      HIKYAKU_STATUS_INTERVAL_MS: '200',
    },
    { handleSignals: false },
  );

  const { ingress, scheduler, sender } = relay.stack.services;
  for (const service of [ingress, scheduler, sender]) {
    parseExposition(await scrape(service.opsPort), exposition);
  }
  let operatorText = '';
  await waitFor(
    'the operator to report the pool',
    async () => {
      operatorText = await scrape(operatorPort);
      return /^hikyaku_operator_pool_condition\{/m.test(operatorText);
    },
    { timeoutMs: 30_000 },
  );
  parseExposition(operatorText, exposition);
});

after(async () => {
  await operator?.lifecycle.shutdown('test done');
  await api?.stop();
  await relay?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Problems with the selectors of one expression: unknown metrics, unknown labels. */
function problems(where: string, found: Selector[]): string[] {
  const out: string[] = [];
  for (const { metric, labels } of found) {
    const seen = exposition.series.get(metric);
    if (!seen) {
      out.push(`${where}: ${metric} is exported by no service`);
      continue;
    }
    if (seen.size === 0) continue; // declared, but no series yet to read labels from
    for (const label of labels) {
      if (!seen.has(label)) out.push(`${where}: ${metric} has no label ${label}`);
    }
  }
  return out;
}

test('the scrape found series of every component', () => {
  for (const prefix of [
    'hikyaku_ingress_',
    'hikyaku_scheduler_',
    'hikyaku_sender_',
    'hikyaku_operator_',
  ]) {
    assert.ok(
      [...exposition.series.keys()].some((name) => name.startsWith(prefix)),
      `nothing scraped starts with ${prefix}`,
    );
  }
  // A histogram is selectable by its _bucket series.
  assert.ok(exposition.series.has('hikyaku_ingress_accept_latency_seconds_bucket'));
});

test('every PrometheusRule expression selects exported metrics and labels', async () => {
  const objects: KubeObject[] = await render({ apiVersions: [MONITORING_API] });
  const rule = find(objects, 'PrometheusRule');
  const rules = (
    rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }
  ).groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 6, `only ${rules.length} alerts`);
  const found: string[] = [];
  for (const r of rules) {
    const sel = selectors(r.expr);
    assert.ok(sel.length > 0, `${r.alert} selects nothing`);
    found.push(...problems(`alert ${r.alert}`, sel));
  }
  assert.deepEqual(found, []);
});

test('every dashboard query selects exported metrics and labels', async () => {
  const objects = await render();
  const configMap = find(objects, 'ConfigMap', '-dashboard');
  const dashboard = JSON.parse(
    (configMap.data as Record<string, string>)['hikyaku.json'] as string,
  ) as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; query?: { query: string } }[] };
  };
  const found: string[] = [];
  let queries = 0;
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      queries++;
      found.push(...problems(`panel "${panel.title}"`, selectors(target.expr)));
    }
  }
  for (const variable of dashboard.templating.list) {
    const query = variable.query?.query;
    if (!query) continue;
    // label_values(<series selector>, <label>)
    const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(query);
    assert.ok(m, `variable ${variable.name}: ${query}`);
    const sel = selectors(m[1] as string);
    found.push(
      ...problems(`variable ${variable.name}`, [
        ...sel,
        { metric: sel[0]?.metric as string, labels: [m[2] as string] },
      ]),
    );
  }
  assert.ok(queries >= 20, `only ${queries} panel queries`);
  assert.deepEqual(found, []);
});

test('the PromQL reader finds metrics and selector labels, not functions or label lists', () => {
  assert.deepEqual(
    selectors(
      'sum by (pool, ip) (rate(a_total{status="deferred", ip=~"$ip"}[$__rate_interval])) / ignoring(x) max(b offset 2d) > 0.5 and on (pool) c',
    ),
    [
      { metric: 'a_total', labels: ['status', 'ip'] },
      { metric: 'b', labels: [] },
      { metric: 'c', labels: [] },
    ],
  );
});
