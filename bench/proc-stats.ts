/** What /proc says of a process: the benchmarks' CPU and memory figures. */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The monotonic clock in microseconds: the clock of a V8 CPU profile's `startTime` (both are
 * CLOCK_MONOTONIC on Linux, the same in every process), so a run's start and end given in
 * it select that run's samples from a profile (profile-summary.ts `--window`).
 */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Peak resident set size (VmHWM) of a process, in MiB to a tenth; null when unknown. */
export function peakRssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Math.round(kb / 102.4) / 10;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in seconds; null when unknown. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * CPU time (user + system) of this process's children that have ended and been waited for,
 * in seconds: a finished smtp-source run, whose own /proc entry is gone by then.
 */
export function endedChildrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/**
 * Write system calls a process has made so far (syscw in /proc/PID/io: socket and file
 * writes alike); null when unknown. Unlike CPU time it does not depend on the machine's load.
 */
export function writeCalls(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const calls = Number(/syscw:\s+(\d+)/.exec(io)?.[1]);
    return Number.isFinite(calls) ? calls : null;
  } catch {
    return null;
  }
}

/**
 * Context switches of a process so far, summed over its threads (the status of each task
 * under /proc/PID/task): voluntary when a thread waited (for I/O, a lock, a timer),
 * involuntary when the kernel took the core from a thread that could have gone on, which
 * is what cores shared by more busy processes than they can run cost. Null when unknown.
 */
export function contextSwitches(
  pid: number | undefined,
): { voluntary: number; involuntary: number } | null {
  if (!pid) return null;
  try {
    let voluntary = 0;
    let involuntary = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      let status: string;
      try {
        status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      } catch {
        continue; // the thread ended since the listing
      }
      voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    }
    return { voluntary, involuntary };
  } catch {
    return null;
  }
}

/** A process's resident memory by kind (RssAnon, RssFile of /proc/PID/status), in KiB. */
export function residentKiB(pid: number | undefined): { anon: number; file: number } | null {
  if (!pid) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const anon = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1]);
    const file = Number(/RssFile:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(anon) && Number.isFinite(file) ? { anon, file } : null;
  } catch {
    return null;
  }
}

/**
 * The peak of each process's anonymous resident memory (its heap and buffers), sampled
 * every `everyMs`. The peak resident set (VmHWM) also counts file-backed pages: for the
 * services mostly the Node binary's code, the same pages in all three, counted in each.
 * The kernel keeps no peak of the anonymous part, hence the sampling.
 */
export function sampleAnonPeaks(
  pids: Record<string, number | undefined>,
  everyMs = 250,
): { stop(): Record<string, number | null> } {
  const peaks = new Map<string, number>();
  const sample = (): void => {
    for (const [name, pid] of Object.entries(pids)) {
      const kib = residentKiB(pid)?.anon;
      if (kib !== undefined && kib > (peaks.get(name) ?? 0)) peaks.set(name, kib);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Object.fromEntries(
        Object.keys(pids).map((name) => {
          const kib = peaks.get(name);
          return [name, kib === undefined ? null : Math.round(kib / 102.4) / 10];
        }),
      );
    },
  };
}
