/**
 * `hikyaku local` as a user starts it, in a data folder of its own, on free ports: the
 * demo pool with its capture route moved to a free port, or a pool text given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cliInvocation, readStackFile, type StackFile } from '@hikyaku/local';
import { freePort, waitFor } from '@hikyaku/testing';

export interface LocalModeProcess {
  child: ChildProcess;
  dataDir: string;
  smtpPort: number;
  output: string[];
  /** Resolves with the stack file once local mode printed its swaks line. */
  ready(): Promise<StackFile>;
  /** SIGINT, as Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
  /** Kills what is left and removes the data folder (unless kept for a next run). */
  cleanup(options?: { keepData?: boolean }): Promise<void>;
}

/** The demo pool under another name; `extraRoutes` (YAML list items) follow its route. */
export async function demoPoolText(name = 'local-demo', extraRoutes = ''): Promise<string> {
  const sinkPort = await freePort();
  return (
    readFileSync('examples/local-demo.yaml', 'utf8')
      .replace(/port: 2626\n/, `port: ${sinkPort}\n${extraRoutes}`)
      .replace(/2626/g, String(sinkPort))
      .replace(/name: local-demo/, `name: ${name}`)
      // The copy is written elsewhere: its key file stays where the demo pool keeps it.
      .replace(
        /signingKeyFile: local-demo-return-path\.key/,
        `signingKeyFile: ${resolve('examples/local-demo-return-path.key')}`,
      )
  );
}

export async function spawnLocalMode(
  options: { poolText?: string; dataDir?: string; env?: Record<string, string> } = {},
): Promise<LocalModeProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hikyaku-local-'));
  const poolFile = join(dataDir, `pool-${Date.now()}.yaml`);
  writeFileSync(poolFile, options.poolText ?? (await demoPoolText()));
  const smtpPort = await freePort();
  const output: string[] = [];
  const child = spawn(
    process.execPath,
    [...cliInvocation(), 'local', '--pool', poolFile, '--data-dir', dataDir],
    {
      env: { ...process.env, HIKYAKU_SMTP_PORT: String(smtpPort), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  child.stderr?.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    dataDir,
    smtpPort,
    output,
    async ready() {
      await waitFor(
        () => `the swaks line; output so far:\n${output.join('\n')}`,
        () => {
          if (exited()) throw new Error(`local mode exited:\n${output.join('\n')}`);
          return output.some((l) => l.trim().startsWith('swaks '));
        },
        { timeoutMs: 90_000 },
      );
      return readStackFile(join(dataDir, 'stack.json'));
    },
    async interrupt() {
      if (exited()) return child.exitCode;
      const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      return done;
    },
    async cleanup(cleanupOptions = {}) {
      if (!exited()) {
        const done = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await done;
        clearTimeout(timer);
      }
      if (!cleanupOptions.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
