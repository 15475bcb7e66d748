/**
 * Runs a command to its end, as a user would from a shell: its exit code and everything it
 * printed. For tests of command lines (local mode, the benchmark), which check both.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(
  file: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  return new Promise((done, fail) => {
    const proc = spawn(file, args, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    proc.once('error', fail);
    proc.once('close', (code) => done({ code, stdout, stderr }));
  });
}

const BENCH = fileURLToPath(new URL('../../bench/relay-bench.ts', import.meta.url));

/**
 * The benchmark as `npm run bench` runs it. tsx is resolved here, so the benchmark also
 * starts from a folder without node_modules.
 */
export function runBench(args: string[], cwd?: string): Promise<CommandResult> {
  return runCommand(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), '--conditions=hikyaku-source', BENCH, ...args],
    cwd ? { cwd } : {},
  );
}
