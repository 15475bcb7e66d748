/**
 * Where a service's CPU went, from the V8 CPU profiles `npm run bench -- --cpu-prof DIR`
 * writes: each profile's busy time (idle and the profiler's own "(program)" left out), its
 * share by package or source file, and the functions with the most self time.
 *
 *   node --import tsx bench/profile-summary.ts [--top N] [--window FROM-TO] DIR/*.cpuprofile
 *
 * `--window FROM-TO` keeps only the samples taken in that span of the monotonic clock, in
 * microseconds: the `windowUs` the benchmark prints for each run, so one run is summarized
 * without the warm-up and the other runs a profile also covers.
 *
 * Garbage collection is its own row, "(garbage collector)". Native functions have no
 * script: they are counted together as "(native)", and by their own names among the
 * functions (`writeUtf8String`, `writeBuffer`, `writev`: socket writes, with the system
 * call and, on loopback, the kernel's delivery to the reader).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface CpuProfile {
  /** When profiling started, on the monotonic clock in microseconds. */
  startTime: number;
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  /** Self time, milliseconds. */
  ms: number;
  /** Of the busy time, per cent. */
  percent: number;
}

export interface ProfileSummary {
  busyMs: number;
  byPlace: Share[];
  byFunction: Share[];
}

/** Frames V8 adds that are not work of the process. */
const NOT_BUSY = new Set(['(idle)', '(program)']);

/** What a frame belongs to: a package, a Node built-in, a service's file, or V8 itself. */
export function placeOf(frame: CallFrame): string {
  if (frame.functionName === '(garbage collector)') return '(garbage collector)';
  const { url } = frame;
  if (!url) return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.startsWith('node:')) return url;
  const own = /\/((?:services|operator)\/[^/]+|bin)\/(?:(?:src|dist)\/)?(.*)$/.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  return url;
}

function functionOf(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const file = frame.url.slice(frame.url.lastIndexOf('/') + 1);
  // V8's line numbers count from 0.
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

function shares(totals: Map<string, number>, busy: number, top: number): Share[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({
      name,
      ms: Math.round(us / 100) / 10,
      percent: busy === 0 ? 0 : Math.round((1000 * us) / busy) / 10,
    }));
}

/** A span of the monotonic clock, in microseconds: from inclusive, to exclusive. */
export interface Window {
  from: number;
  to: number;
}

/** `FROM-TO` in microseconds, as the benchmark prints a run's `windowUs`; null when not that. */
export function parseWindow(text: string): Window | null {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match) return null;
  const window = { from: Number(match[1]), to: Number(match[2]) };
  return window.from < window.to ? window : null;
}

export function summarizeProfile(profile: CpuProfile, top = 25, window?: Window): ProfileSummary {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  // Each sample's time is the delta that follows it (V8 records the one before it); the
  // deltas summed from the start say when it was taken.
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.from || at >= window.to)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  });
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = frames.get(id);
    if (!frame || NOT_BUSY.has(frame.functionName)) continue;
    busy += us;
    const place = placeOf(frame);
    byPlace.set(place, (byPlace.get(place) ?? 0) + us);
    const fn = functionOf(frame);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  return {
    busyMs: Math.round(busy / 1000),
    byPlace: shares(byPlace, busy, top),
    byFunction: shares(byFunction, busy, top),
  };
}

function print(path: string, summary: ProfileSummary): void {
  const row = (s: Share) => `  ${s.percent.toFixed(1).padStart(5)} %  ${s.name}\n`;
  process.stdout.write(`${path}: busy ${summary.busyMs} ms\n by place:\n`);
  for (const s of summary.byPlace) process.stdout.write(row(s));
  process.stdout.write(' by function (self time):\n');
  for (const s of summary.byFunction) process.stdout.write(row(s));
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, window: { type: 'string' } },
  });
  const top = Number(values.top);
  const window = values.window === undefined ? undefined : parseWindow(values.window);
  if (!Number.isInteger(top) || top <= 0 || positionals.length === 0 || window === null) {
    process.stderr.write(
      'usage: node --import tsx bench/profile-summary.ts [--top N] [--window FROM-TO] FILE.cpuprofile...\n' +
        "  FROM-TO: a run's windowUs from the benchmark, microseconds of the monotonic clock\n",
    );
    process.exit(2);
  }
  for (const path of positionals) {
    let profile: CpuProfile;
    try {
      profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
    } catch (err) {
      process.stderr.write(`profile-summary: cannot read ${path}: ${(err as Error).message}\n`);
      process.exit(1);
    }
    if (
      !Array.isArray(profile.nodes) ||
      !Array.isArray(profile.samples) ||
      typeof profile.startTime !== 'number'
    ) {
      process.stderr.write(`profile-summary: ${path} is not a V8 CPU profile\n`);
      process.exit(1);
    }
    print(path, summarizeProfile(profile, top, window));
  }
}

const invoked = process.argv[1];
if (invoked && import.meta.url === pathToFileURL(realpathSync(invoked)).href) main();
