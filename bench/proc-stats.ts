/** What /proc says of a process: the benchmarks' CPU and memory figures. */
import { readFileSync } from 'node:fs';

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
