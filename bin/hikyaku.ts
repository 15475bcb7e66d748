#!/usr/bin/env node
/**
 * The one entrypoint of the image and of `npx hikyaku`: `hikyaku <component>` runs a
 * component; `hikyaku local` runs the whole relay on this machine. Options are parsed
 * strictly: a mistyped one prints the usage and exits 2, as a usage error should.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = `usage: hikyaku <command> [options]

commands:
  local [--pool FILE] [--data-dir DIR] [--verbose]
                 run the whole relay on this machine (what npm start runs)
  ingress        run the SMTP ingress (configured from the environment)
  scheduler      run the scheduler
  sender         run a sender (HIKYAKU_POOL, HIKYAKU_POD_NAME)
  suppressions <add|remove|lookup|list> --pool POOL [--redis URL --nats URL] [ADDRESS...]
                 manage a pool's suppression list (--help for details)
  reputation <list|resume> --nats URL --pool POOL [IP...]
                 show the sending IPs' reputation standing, resume paused IPs
  holds <list|release> --redis URL --pool POOL [DOMAIN...]
                 sender domains held by the complaint guard, and their release
  trace [--nats URL] <queue-id | Message-ID | recipient>
                 a message's timeline: accepted, planned, every attempt, the end
  status [--nats URL --redis URL] [--pool POOL]
                 pools, IPs with state and warm-up use today, learned throttles, mail held
  shaping --nats URL --redis URL --pool POOL [--json]
                 each IP's warm-up day, cap, sent today and waiting mail, and the
                 destinations that take less than declared (learned rates)
  operator       run the Kubernetes operator (docs/operator.md)
  remove-pools   delete every RelayPool and wait for the operator to finalize them
                 (what the chart runs before helm uninstall)

hikyaku <command> --help shows a command's options.
`;

const LOCAL_USAGE = `usage: hikyaku local [--pool FILE] [--data-dir DIR] [--verbose]

Runs the whole relay on this machine: nats-server and redis-server (unless NATS_URL and
REDIS_URL point at running ones), the ingress, the scheduler and a sender per pool IP, and a
capture sink for the pool's loopback route.

  --pool FILE      the RelayPool to run (default: examples/local-demo.yaml)
  --data-dir DIR   where state, logs and captured mail go (default: .hikyaku)
  --verbose        show every service's log
  -h, --help       this text

environment: HIKYAKU_SMTP_PORT (default 2525), NATS_URL, REDIS_URL
`;

/** What each component reads; they take no options, only the environment. */
const COMPONENT_USAGE: Record<string, string> = {
  ingress:
    'usage: hikyaku ingress\n\nRuns the SMTP ingress, configured from the environment (docs/ingress.md).\n',
  scheduler:
    'usage: hikyaku scheduler\n\nRuns the scheduler, configured from the environment (docs/design.md).\n',
  sender:
    'usage: hikyaku sender\n\nRuns a sender for HIKYAKU_POOL as pod HIKYAKU_POD_NAME (docs/sender.md).\n',
  operator:
    'usage: hikyaku operator\n\nRuns the Kubernetes operator, configured from the environment (docs/operator.md).\n',
};

/**
 * The tools that read the relay find it through --nats / NATS_URL, or else through the
 * stack file a local mode running from the data folder wrote.
 */
async function localStack(dataDir: string): Promise<{ natsUrl: string; redisUrl: string }> {
  const { readStackFile, STACK_FILE_NAME } = await import('@hikyaku/local');
  return readStackFile(join(dataDir, STACK_FILE_NAME));
}

/** A command line that does not parse: usage text on stderr, exit status 2. */
class UsageError extends Error {
  readonly usage: string;

  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

/** Runs a parser; what it refuses becomes a UsageError carrying the command's usage. */
function parsed<T>(usage: string, parser: () => T): T {
  try {
    return parser();
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

async function runComponent(command: string, rest: string[]): Promise<void> {
  const usage = COMPONENT_USAGE[command] as string;
  const { values } = parsed(usage, () =>
    parseArgs({ args: rest, options: { help: { type: 'boolean', short: 'h' } }, strict: true }),
  );
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  switch (command) {
    case 'ingress': {
      const { runIngress } = await import('@hikyaku/ingress');
      await runIngress(process.env);
      return;
    }
    case 'scheduler': {
      const { runScheduler } = await import('@hikyaku/scheduler');
      await runScheduler(process.env);
      return;
    }
    case 'sender': {
      const { runSender } = await import('@hikyaku/sender');
      await runSender(process.env);
      return;
    }
    case 'operator': {
      const { runOperator } = await import('@hikyaku/operator');
      await runOperator(process.env);
      return;
    }
  }
}

async function runLocalCommand(rest: string[]): Promise<void> {
  const { values } = parsed(LOCAL_USAGE, () =>
    parseArgs({
      args: rest,
      options: {
        pool: { type: 'string' },
        'data-dir': { type: 'string', default: '.hikyaku' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }),
  );
  if (values.help) {
    process.stdout.write(LOCAL_USAGE);
    return;
  }
  const { DEMO_POOL_FILE, runLocal } = await import('@hikyaku/local');
  const local = await runLocal({
    poolFile: values.pool ?? DEMO_POOL_FILE,
    dataDir: values['data-dir'] ?? '.hikyaku',
    env: process.env,
    print: (line) => console.log(line),
    verbose: values.verbose ?? false,
  });
  const stop = (): void => {
    console.log('stopping…');
    local.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'ingress':
    case 'scheduler':
    case 'sender':
    case 'operator':
      await runComponent(command, rest);
      return;
    case 'remove-pools': {
      const { removePoolsCommand } = await import('@hikyaku/operator');
      process.exitCode = await removePoolsCommand(process.env);
      return;
    }
    case 'suppressions': {
      const { runSuppressionsCli } = await import('@hikyaku/scheduler');
      process.exitCode = await runSuppressionsCli(rest, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        env: process.env,
        localStack,
      });
      return;
    }
    case 'trace': {
      const { runTraceCli } = await import('@hikyaku/scheduler');
      process.exitCode = await runTraceCli(rest, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        env: process.env,
        localStack,
      });
      return;
    }
    case 'status': {
      const { runStatusCli } = await import('@hikyaku/scheduler');
      process.exitCode = await runStatusCli(rest, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        env: process.env,
        localStack,
      });
      return;
    }
    case 'holds': {
      const { runHoldsCli } = await import('@hikyaku/scheduler');
      process.exitCode = await runHoldsCli(rest, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        env: process.env,
      });
      return;
    }
    case 'shaping': {
      const { runShapingCli } = await import('@hikyaku/scheduler');
      process.exitCode = await runShapingCli(rest, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        env: process.env,
      });
      return;
    }
    case 'reputation': {
      const { runReputationCli } = await import('@hikyaku/scheduler');
      process.exitCode = await runReputationCli(rest, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        env: process.env,
      });
      return;
    }
    case 'local':
      await runLocalCommand(rest);
      return;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`, USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`hikyaku: ${err.message}\n\n${err.usage}`);
    process.exit(2);
  }
  const e = err as Error & { code?: string };
  if (e.name === 'LocalModeError') {
    process.stderr.write(`hikyaku: ${e.message}\n`);
    process.exit(1);
  }
  if (e.code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`hikyaku: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`hikyaku: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
  process.exit(1);
});
