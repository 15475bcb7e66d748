#!/usr/bin/env node
/**
 * `hikyaku operator` alone: the entry of the bundle the image's operator container runs
 * (`npm run build:operator`, docs/operator.md#footprint). It imports only what the operator
 * runs, so the bundler leaves out every other command and what only they load; its
 * arguments, usage and exit statuses are those of `hikyaku operator`.
 */
import { parseArgs } from 'node:util';
import { runOperator } from '@hikyaku/operator';
import { COMPONENT_USAGE } from './component-usage.ts';

const USAGE = COMPONENT_USAGE.operator;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'operator') {
    process.stderr.write(
      `hikyaku: this build runs only the operator, not "${command ?? ''}"\n\n${USAGE}`,
    );
    process.exit(2);
  }
  let help: boolean | undefined;
  try {
    ({
      values: { help },
    } = parseArgs({
      args: rest,
      options: { help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`hikyaku: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (help) {
    process.stdout.write(USAGE);
    return;
  }
  await runOperator(process.env);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as Error & { code?: string };
  process.stderr.write(`hikyaku: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
  process.exit(1);
});
