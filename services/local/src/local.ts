/**
 * `hikyaku local` (what `npm start` runs): the relay on this machine with a pool from a
 * RelayPool YAML file, a capture sink for the demo domain, and a line to paste that sends a
 * message through it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  type Env,
  EnvReader,
  hashPasswordFiles,
  parseRelayPoolYaml,
  type RelayPoolResource,
  splitHostPort,
} from '@hikyaku/core';
import { startCaptureSink } from './capture.ts';
import { startLocalStack } from './stack.ts';
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
    'local mode needs a static route to a loopback address (e.g. domains [example.test], host 127.0.0.1, port 2626) for its capture sink',
  );
}

export interface LocalOptions {
  poolFile: string;
  dataDir: string;
  env: Env;
  print: (line: string) => void;
  verbose: boolean;
}

export async function runLocal(options: LocalOptions): Promise<{ stop: () => Promise<void> }> {
  const r = new EnvReader(options.env);
  const config = r.done({
    smtpPort: r.int('HIKYAKU_SMTP_PORT', 2525, { min: 0, max: 65535 }),
    natsUrl: r.string('NATS_URL'),
    redisUrl: r.string('REDIS_URL'),
    logLevel: r.string('HIKYAKU_LOG_LEVEL', 'warn'),
  });
  const poolFile = resolve(options.poolFile);
  const pool: RelayPoolResource = parseRelayPoolYaml(readFileSync(poolFile, 'utf8'), poolFile);
  const dataDir = resolve(options.dataDir);
  const capture = captureRoute(pool);
  const sink = await startCaptureSink({
    host: capture.host,
    port: capture.port,
    dir: resolve(dataDir, 'captured'),
    onSaved: (path, from, rcpts, peer) =>
      options.print(
        `captured: ${path} (from <${from}> to ${rcpts.map((x) => `<${x}>`).join(', ')}, sent from ${peer})`,
      ),
  });
  const stack = await startLocalStack({
    pool,
    passwordHashes: await hashPasswordFiles(pool.spec.submitters ?? [], dirname(poolFile)),
    dataDir,
    smtpPort: config.smtpPort,
    ...(config.natsUrl ? { natsUrl: config.natsUrl } : {}),
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    env: { HIKYAKU_LOG_LEVEL: config.logLevel },
    onOutput: (name, line) => {
      if (options.verbose || /"level":(50|60)/.test(line)) options.print(`[${name}] ${line}`);
    },
  });
  const demoDomain = capture.domain;
  const stackFile = join(dataDir, STACK_FILE_NAME);
  try {
    writeStackFile(stackFile, {
      v: 1,
      smtp: { host: stack.smtpHost, port: stack.smtpPort },
      natsUrl: stack.natsUrl,
      redisUrl: stack.redisUrl,
      pool: stack.pool.key,
      captureDomain: demoDomain,
      pids: {
        local: process.pid,
        // Started and ready, so each has a pid.
        ingress: stack.services.ingress.pid as number,
        scheduler: stack.services.scheduler.pid as number,
        sender: stack.services.sender.pid as number,
        ...(stack.nats?.process.pid ? { natsServer: stack.nats.process.pid } : {}),
        ...(stack.redis?.process.pid ? { redisServer: stack.redis.process.pid } : {}),
      },
      startedAt: new Date().toISOString(),
    });
  } catch (err) {
    await stack.stop();
    await sink.close();
    throw err;
  }
  options.print(
    `hikyaku is relaying for pool "${stack.pool.name}" on ${stack.smtpHost}:${stack.smtpPort}`,
  );
  options.print(
    `  nats ${stack.natsUrl}, redis ${stack.redisUrl}, captured mail in ${resolve(dataDir, 'captured')}`,
  );
  const shownStackFile = relative(process.cwd(), stackFile);
  options.print(
    `  npm run bench -- --attach ${shownStackFile.startsWith('..') ? stackFile : shownStackFile} measures this stack`,
  );
  options.print('send a message through it:');
  options.print(
    `  swaks --server ${stack.smtpHost}:${stack.smtpPort} --from app@hikyaku.test --to hello@${demoDomain} --header "Subject: hello from hikyaku"`,
  );
  return {
    async stop() {
      // First, so nothing attaches to a stack that is winding down.
      removeStackFile(stackFile);
      await stack.stop();
      await sink.close();
    },
  };
}
