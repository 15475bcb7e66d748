/**
 * What each service loads when it starts. Every loaded module stays resident for the life of
 * the process (its source, compiled code and module record), so a service must not load
 * what only another part needs: the pool file readers (yaml, cel-js, ajv-formats; local mode
 * and tests), the feedback report parser (mailparser, mailsplit; the scheduler's feedback
 * stage, at its first report), nodemailer's MIME builder (DSNs, at the first one), the
 * Kubernetes client (the operator) and, in the sender, the Redis client. Each service's
 * package is imported in a child process that records every module it loads.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Records the URL of every module the child loads, printed as JSON when it exits. */
const RECORDER = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({
  load(url, context, nextLoad) {
    loaded.push(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => process.stdout.write(JSON.stringify(loaded)));
`;

async function modulesLoadedBy(specifier: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      ...process.execArgv,
      '--import',
      `data:text/javascript,${encodeURIComponent(RECORDER)}`,
      '--input-type=module',
      '--eval',
      `await import(${JSON.stringify(specifier)});`,
    ],
    { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as string[];
}

/** Packages (and package files) only other parts of the relay, or only rare paths, need. */
const NOT_AT_START = [
  '/node_modules/yaml/',
  '/node_modules/@marcbachmann/cel-js/',
  '/node_modules/ajv-formats/',
  '/node_modules/mailparser/',
  '/node_modules/@zone-eu/mailsplit/',
  '/node_modules/nodemailer/lib/mime-node/',
  '/node_modules/@kubernetes/client-node/',
];

/** What one service does not run though others do: the sender never talks to Redis. */
const NOT_IN: Record<string, string[]> = {
  ingress: [],
  scheduler: [],
  sender: ['/node_modules/ioredis/'],
};

describe('a service loads only what it runs', () => {
  for (const service of ['ingress', 'scheduler', 'sender']) {
    it(`@hikyaku/${service}`, async () => {
      const loaded = await modulesLoadedBy(`@hikyaku/${service}`);
      // The recorder works: the service's own entry point and core were seen.
      assert.ok(
        loaded.some((url) => url.includes(`/services/${service}/`)),
        `no module of ${service} was recorded`,
      );
      assert.ok(loaded.some((url) => url.includes('/services/core/')));
      const notHere = [...NOT_AT_START, ...(NOT_IN[service] ?? [])];
      const unexpected = loaded.filter((url) => notHere.some((part) => url.includes(part)));
      assert.deepEqual(unexpected, [], `${service} loads modules it does not run`);
    });
  }
});
