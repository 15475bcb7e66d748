/**
 * `hikyaku local` (what `npm start` runs): the relay on this machine with a pool from a
 * RelayPool YAML file, a capture sink for the demo domain, and a line to paste that sends a
 * message through it.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashPasswordFiles } from '../../core/src/credentials.ts';
import { type Env, EnvReader, type RelayPoolResource } from '../../core/src/index.ts';
import { parseRelayPoolYaml } from '../../core/src/pool/schema.ts';
import { startCaptureSink } from './capture.ts';
import { startLocalStack } from './stack.ts';

export const DEMO_POOL_FILE = fileURLToPath(
  new URL('../../../examples/local-demo.yaml', import.meta.url),
);

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
    sinkPort: r.int('HIKYAKU_SINK_PORT', 2626, { min: 1, max: 65535 }),
    natsUrl: r.string('NATS_URL'),
    redisUrl: r.string('REDIS_URL'),
    logLevel: r.string('HIKYAKU_LOG_LEVEL', 'warn'),
  });
  const poolFile = resolve(options.poolFile);
  const pool: RelayPoolResource = parseRelayPoolYaml(readFileSync(poolFile, 'utf8'), poolFile);
  const dataDir = resolve(options.dataDir);
  const sink = await startCaptureSink({
    host: '127.0.0.1',
    port: config.sinkPort,
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
  const demoDomain = pool.spec.routes?.[0]?.domains[0] ?? 'example.test';
  options.print(
    `hikyaku is relaying for pool "${stack.pool.name}" on ${stack.smtpHost}:${stack.smtpPort}`,
  );
  options.print(
    `  nats ${stack.natsUrl}, redis ${stack.redisUrl}, captured mail in ${resolve(dataDir, 'captured')}`,
  );
  options.print('send a message through it:');
  options.print(
    `  swaks --server ${stack.smtpHost}:${stack.smtpPort} --from app@hikyaku.test --to hello@${demoDomain} --header "Subject: hello from hikyaku"`,
  );
  return {
    async stop() {
      await stack.stop();
      await sink.close();
    },
  };
}
