/**
 * `hikyaku local` (what `npm start` runs): the relay on this machine with a pool from a
 * RelayPool YAML file, a capture sink for the demo domain, and a line to paste that sends a
 * message through it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  type Env,
  EnvReader,
  HikyakuError,
  hashPasswordFiles,
  parseRelayPoolYaml,
  type RelayPoolResource,
  splitHostPort,
} from '@hikyaku/core';
import type { RestartEvent } from '@hikyaku/testing';
import { startCaptureSink } from './capture.ts';
import { watchReputation } from './reputation-log.ts';
import { type LocalStack, startLocalStack } from './stack.ts';
import { removeStackFile, STACK_FILE_NAME, writeStackFile } from './stack-file.ts';

export const DEMO_POOL_FILE = fileURLToPath(
  new URL('../../../examples/local-demo.yaml', import.meta.url),
);

/**
 * Where the capture sink listens: the pool's first static route to a loopback address. The
 * sink follows the pool file, so editing the route's port is all it takes to move it.
 */
export function captureRoute(pool: RelayPoolResource): {
  host: string;
  port: number;
  domain: string;
} {
  for (const route of pool.spec.routes ?? []) {
    const { host, port } = splitHostPort(route.host);
    const domain = route.domains.find((d) => d !== '*');
    if (domain && /^127\.\d+\.\d+\.\d+$/.test(host)) {
      return { host, port: route.port ?? port ?? 25, domain };
    }
  }
  throw new ConfigError(
    `local mode needs a static route to a loopback address for its capture sink. To try a cluster pool here, change in its file: spec.ips to loopback addresses (- {address: 127.0.0.2, hostname: mta1.hikyaku.test}), add to spec.routes "- {domains: [example.test], host: 127.0.0.1, port: 2626}", and give each submitter a passwordFile instead of passwordSecretRef (examples/local-demo.yaml shows all three)`,
  );
}

/** The pool's feedback.signingKeyFile, read relative to the pool file's directory. */
function feedbackSecretOf(pool: RelayPoolResource, dir: string): { feedbackSecret?: string } {
  const file = pool.spec.feedback?.signingKeyFile;
  if (file === undefined) return {};
  try {
    return { feedbackSecret: readFileSync(resolve(dir, file), 'utf8') };
  } catch (cause) {
    throw new ConfigError(`feedback.signingKeyFile ${file} cannot be read`, { cause });
  }
}

export interface LocalOptions {
  poolFile: string;
  dataDir: string;
  env: Env;
  print: (line: string) => void;
  verbose: boolean;
}

/** What stops local mode before it starts, said so that a newcomer knows what to do. */
export class LocalModeError extends HikyakuError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'LocalModeError';
  }
}

function readPoolFile(poolFile: string): RelayPoolResource {
  let text: string;
  try {
    text = readFileSync(poolFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? err})`;
    throw new LocalModeError(
      'HIKYAKU_POOL_FILE_UNREADABLE',
      `the pool file ${poolFile} ${why}; give --pool a RelayPool YAML file (examples/local-demo.yaml is the demo pool)`,
      { cause: err },
    );
  }
  return parseRelayPoolYaml(text, poolFile);
}

/** Fails with the port, what uses it and the fix, before anything is started. */
async function assertPortFree(host: string, port: number, what: string, fix: string) {
  if (port === 0) return;
  const server = createServer();
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveListen());
  }).then(
    () => new Promise<void>((done) => server.close(() => done())),
    (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE' ? 'is in use by another program' : `cannot be used (${err.code})`;
      throw new LocalModeError(
        'HIKYAKU_PORT_IN_USE',
        `${what} port ${host}:${port} ${why}: ${fix}`,
        {
          cause: err,
        },
      );
    },
  );
}

export async function runLocal(options: LocalOptions): Promise<{ stop: () => Promise<void> }> {
  const r = new EnvReader(options.env);
  const config = r.done({
    smtpPort: r.int('HIKYAKU_SMTP_PORT', 2525, { min: 0, max: 65535 }),
    natsUrl: r.string('NATS_URL'),
    redisUrl: r.string('REDIS_URL'),
    logLevel: r.string('HIKYAKU_LOG_LEVEL', options.verbose ? 'info' : 'warn'),
    // Where the reputation guard asks about blocklists and PTRs (a lab's own DNS, say).
    dnsServers: r.string('HIKYAKU_DNS_SERVERS'),
    reputationDnsServers: r.string('HIKYAKU_REPUTATION_DNS_SERVERS'),
  });
  const began = Date.now();
  const poolFile = resolve(options.poolFile);
  const pool = readPoolFile(poolFile);
  const dataDir = resolve(options.dataDir);
  const capture = captureRoute(pool);
  const smtpHost = '127.0.0.1';
  await assertPortFree(
    smtpHost,
    config.smtpPort,
    'the SMTP',
    `set HIKYAKU_SMTP_PORT to a free port (HIKYAKU_SMTP_PORT=${config.smtpPort + 1} npm start)`,
  );
  await assertPortFree(
    capture.host,
    capture.port,
    'the capture sink',
    `change the port of the ${capture.domain} route in ${poolFile} to a free one`,
  );
  options.print(`starting hikyaku with pool ${poolFile}, data in ${dataDir}`);
  const sink = await startCaptureSink({
    host: capture.host,
    port: capture.port,
    dir: resolve(dataDir, 'captured'),
    onSaved: (path, from, rcpts, peer) =>
      options.print(
        `captured: ${path} (from <${from}> to ${rcpts.map((x) => `<${x}>`).join(', ')}, sent from ${peer})`,
      ),
  });
  const stackFile = join(dataDir, STACK_FILE_NAME);
  let stack: LocalStack | undefined;
  const writeStack = (): void => {
    if (!stack) return;
    writeStackFile(stackFile, {
      v: 1,
      smtp: { host: stack.smtpHost, port: stack.smtpPort },
      natsUrl: stack.natsUrl,
      redisUrl: stack.redisUrl,
      pool: stack.pool.key,
      captureDomain: capture.domain,
      pids: {
        local: process.pid,
        // Started and ready, so each has a pid.
        ingress: stack.services.ingress.pid as number,
        scheduler: stack.services.scheduler.pid as number,
        sender: stack.services.sender.pid as number,
        ...(stack.nats?.process.pid ? { natsServer: stack.nats.process.pid } : {}),
        ...(stack.redis?.process.pid ? { redisServer: stack.redis.process.pid } : {}),
      },
      startedAt: new Date(began).toISOString(),
    });
  };
  try {
    stack = await startLocalStack({
      pool,
      passwordHashes: await hashPasswordFiles(pool.spec.submitters ?? [], dirname(poolFile)),
      ...feedbackSecretOf(pool, dirname(poolFile)),
      poolFileDir: dirname(poolFile),
      dataDir,
      smtpHost,
      smtpPort: config.smtpPort,
      ...(config.natsUrl ? { natsUrl: config.natsUrl } : {}),
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      env: {
        HIKYAKU_LOG_LEVEL: config.logLevel,
        ...(config.dnsServers ? { HIKYAKU_DNS_SERVERS: config.dnsServers } : {}),
        ...(config.reputationDnsServers
          ? { HIKYAKU_REPUTATION_DNS_SERVERS: config.reputationDnsServers }
          : {}),
      },
      onOutput: (name, line) => {
        if (options.verbose || /"level":(50|60)/.test(line)) options.print(`[${name}] ${line}`);
      },
      onProgress: (step) => options.print(`  starting ${step}…`),
      supervise: (event) => {
        options.print(restartLine(event));
        if (event.kind === 'restarted') writeStack();
      },
    });
    writeStack();
  } catch (err) {
    await stack?.stop();
    await sink.close();
    throw err;
  }
  const running = stack;
  let reputation: { stop(): Promise<void> };
  try {
    reputation = await watchReputation({
      natsUrl: running.natsUrl,
      pool: running.pool.key,
      print: options.print,
    });
  } catch (err) {
    await running.stop();
    await sink.close();
    throw err;
  }
  for (const retired of running.retiredPools) {
    options.print(
      retired.waiting > 0
        ? `note: pool ${retired.pool} from an earlier run of this data folder is not running now; ${retired.waiting} stored items of its mail wait until its pool file runs again`
        : `note: pool ${retired.pool} from an earlier run of this data folder was put away (no mail of it was waiting)`,
    );
  }
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  options.print(
    `hikyaku is relaying for pool "${running.pool.name}" (${running.pool.key}) on ${running.smtpHost}:${running.smtpPort}, ready in ${seconds} s`,
  );
  options.print(
    `  nats ${running.natsUrl}, redis ${running.redisUrl}, captured mail in ${resolve(dataDir, 'captured')}`,
  );
  const metrics = Object.values(running.services)
    .map((service) => `${service.name} http://127.0.0.1:${service.opsPort}/metrics`)
    .join(', ');
  options.print(`  metrics: ${metrics}`);
  const shownStackFile = relative(process.cwd(), stackFile);
  const shownDataDir = relative(process.cwd(), dataDir) || '.';
  const dirFlag =
    shownDataDir === '.hikyaku'
      ? ''
      : ` --data-dir ${shownDataDir.startsWith('..') ? dataDir : shownDataDir}`;
  options.print(
    `  npm run bench -- --attach ${shownStackFile.startsWith('..') ? stackFile : shownStackFile} measures this stack`,
  );
  options.print(
    `  npx hikyaku trace${dirFlag} <queue id | Message-ID | recipient> follows a message`,
  );
  options.print('send a message through it:');
  options.print(
    `  swaks --server ${running.smtpHost}:${running.smtpPort} --from app@hikyaku.test --to hello@${capture.domain} --header "Subject: hello from hikyaku"`,
  );
  return {
    async stop() {
      // First, so nothing attaches to a stack that is winding down.
      removeStackFile(stackFile);
      await reputation.stop();
      await running.stop();
      await sink.close();
    },
  };
}

function restartLine(event: RestartEvent): string {
  if (event.kind === 'restarted') return `${event.name} restarted (pid ${event.pid ?? '?'})`;
  const wait = `${((event.delayMs ?? 0) / 1000).toFixed(1)} s`;
  if (event.kind === 'exited') return `${event.name} ${event.reason}; restarting in ${wait}`;
  return `${event.name} did not start again (${event.reason}); next try in ${wait}`;
}
