/**
 * Every YAML file a user may hand to kubectl or helm — examples/, crds/, the chart's own
 * files, and the ```yaml blocks of the docs — parses with kubectl's YAML reader (go-yaml,
 * YAML 1.1) and means there what the project's `yaml` library (YAML 1.2) reads. A file can
 * otherwise pass every test here and still be refused by `kubectl apply`, or carry `yes`
 * as a boolean into the cluster.
 *
 * kubectl runs offline: `kubectl annotate --local -f FILE -o json` reads and decodes the
 * file without asking any server. Each document is wrapped as the spec of a made-up kind,
 * so values files and fragments are read as well as manifests, and the JSON kubectl
 * prints is compared with what the `yaml` library makes of the same document. The chart's
 * templates are Go templates, not YAML: helm parses what they render in render.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { kubectlBinary, REPO_ROOT } from './helm.ts';

const run = promisify(execFile);

interface Source {
  /** Where it comes from, for messages. */
  name: string;
  text: string;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('templates/'))
    .map((f) => join(dir, f))
    .sort();
}

/** The ```yaml blocks of a Markdown file, each with its first line number. */
function fencedBlocks(file: string): Source[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const blocks: Source[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```ya?ml\s*$/.test(lines[i]!)) continue;
    const indent = /^\s*/.exec(lines[i]!)![0].length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++)
      body.push(lines[j]!.slice(indent));
    blocks.push({ name: `${file}:${i + 2}`, text: `${body.join('\n')}\n` });
    i = j;
  }
  return blocks;
}

function sources(): Source[] {
  const files = [
    ...yamlFiles('examples'),
    ...yamlFiles('crds'),
    ...yamlFiles('charts/hikyaku'),
    ...yamlFiles('test/kube/fixtures'),
  ];
  const docs = readdirSync(join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  return [
    ...files.map((f) => ({ name: f, text: readFileSync(join(REPO_ROOT, f), 'utf8') })),
    ...['README.md', 'charts/hikyaku/README.md', ...docs].flatMap(fencedBlocks),
  ];
}

/** Each non-empty document of the text, as its own YAML text. */
function documents(text: string): string[] {
  return text
    .split(/^---[ \t]*(?:#.*)?$/m)
    .filter((d) => d.split('\n').some((line) => line.trim() !== '' && !/^\s*#/.test(line)));
}

function wrap(doc: string, index: number): string {
  const body = doc
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');
  return `apiVersion: parse.hikyaku.test/v1\nkind: Parsed\nmetadata:\n  name: doc-${index}\nspec:\n${body}\n`;
}

let dir: string;
let kubeconfig: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-yaml-'));
  // No cluster at all: --local must not need one, and nothing is ever contacted.
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n',
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** What kubectl reads from each document, or its error. */
async function kubectlRead(source: Source, docs: string[]): Promise<unknown[] | string> {
  const file = join(dir, 'input.yaml');
  writeFileSync(file, docs.map(wrap).join('---\n'));
  try {
    const { stdout } = await run(
      kubectlBinary(),
      ['annotate', '--local', '-f', file, 'parse.hikyaku.test/read=yes', '-o', 'json'],
      { env: { PATH: '/usr/bin:/bin', KUBECONFIG: kubeconfig, HOME: dir }, timeout: 60_000 },
    );
    const out = JSON.parse(stdout) as {
      kind: string;
      items?: { spec?: unknown }[];
      spec?: unknown;
    };
    const items = out.kind === 'List' ? (out.items ?? []) : [out];
    return items.map((i) => i.spec ?? null);
  } catch (err) {
    const e = err as { stderr?: string };
    return `${source.name}: ${(e.stderr ?? String(err)).trim().replaceAll(file, source.name)}`;
  }
}

describe('YAML files, as kubectl reads them', () => {
  const all = sources();

  it('finds the examples, the CRDs, the chart files and the docs blocks', () => {
    const names = all.map((s) => s.name);
    for (const expected of ['examples/marketing.yaml', 'crds/relaypools.hikyaku.io.yaml']) {
      assert.ok(names.includes(expected), `${expected} is checked`);
    }
    assert.ok(names.includes('charts/hikyaku/values.yaml'));
    assert.ok(
      names.filter((n) => n.startsWith('docs/')).length >= 5,
      'the docs blocks are checked',
    );
  });

  it('parse with kubectl and mean what they mean here', async () => {
    const problems: string[] = [];
    for (const source of all) {
      const docs = documents(source.text);
      if (docs.length === 0) continue;
      const read = await kubectlRead(source, docs);
      if (typeof read === 'string') {
        problems.push(read);
        continue;
      }
      const here = docs.map((d) => parseAllDocuments(d)[0]?.toJS() ?? null);
      for (const [i, value] of here.entries()) {
        // JSON, as kubectl prints it: no undefined, numbers as numbers.
        const expected = JSON.parse(JSON.stringify(value));
        try {
          assert.deepEqual(read[i], expected);
        } catch (err) {
          problems.push(
            `${source.name} (document ${i + 1}) means something else to kubectl:\n${(err as Error).message}`,
          );
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('would catch what kubectl refuses or reads otherwise', async () => {
    const refused = await kubectlRead({ name: 'bad.yaml', text: '' }, ['patterns: [TSS?04, b]\n']);
    assert.match(String(refused), /bad\.yaml: .*did not find expected ',' or ']'/);
    const read = await kubectlRead({ name: 'yes.yaml', text: '' }, ['answer: yes\nmode: 0644\n']);
    assert.deepEqual(read, [{ answer: true, mode: 420 }]);
  });
});
