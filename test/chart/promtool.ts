/**
 * The chart's alerting rules as promtool sees them: rendered with the real helm, written to
 * a folder of their own, with each alert's annotations at hand for expected-alert blocks.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { find, MONITORING_API, render } from './helm.ts';

const run = promisify(execFile);

export interface RenderedRules {
  /** The folder promtool runs in (rule test files go here); removed by the caller. */
  dir: string;
  rulesFile: string;
  annotations: Map<string, { summary: string; description: string }>;
}

export async function renderRules(prefix: string): Promise<RenderedRules> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const rule = find(await render({ apiVersions: [MONITORING_API] }), 'PrometheusRule');
  const rulesFile = join(dir, 'rules.yaml');
  const groups = (rule.spec as { groups: { rules: { alert: string; annotations: never }[] }[] })
    .groups;
  const annotations = new Map<string, { summary: string; description: string }>();
  for (const r of groups.flatMap((g) => g.rules)) annotations.set(r.alert, r.annotations);
  writeFileSync(rulesFile, stringify({ groups }));
  return { dir, rulesFile, annotations };
}

/** Runs promtool in `dir`; a failing check is a result to look at, not a throw. */
export async function promtoolIn(
  dir: string,
  args: string[],
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: dir });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
