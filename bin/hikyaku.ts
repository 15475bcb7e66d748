#!/usr/bin/env node
/**
 * The one entrypoint of the image and of `npx hikyaku`: `hikyaku <component>` runs a
 * component; `hikyaku local` runs the whole relay on this machine. Options are parsed
 * strictly: a mistyped one prints the usage and exits 2, as a usage error should.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COMPONENT_USAGE } from './component-usage.ts';

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

/** A component takes no options, only the environment: `--help` or it runs. */
function component(
  name: keyof typeof COMPONENT_USAGE,
  start: () => Promise<unknown>,
): (rest: string[]) => Promise<void> {
  return async (rest) => {
    const usage = COMPONENT_USAGE[name];
    const { values } = parsed(usage, () =>
      parseArgs({ args: rest, options: { help: { type: 'boolean', short: 'h' } }, strict: true }),
    );
    if (values.help) {
      process.stdout.write(usage);
      return;
    }
    await start();
  };
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

/** What a scheduler command line gets: lines out, the environment, the local stack. */
function cliIo() {
  return {
    out: (line: string) => console.log(line),
    err: (line: string) => console.error(line),
    env: process.env,
    localStack,
  };
}

type SchedulerModule = typeof import('@hikyaku/scheduler');

/** A command served by the scheduler package; its exit status becomes the process's. */
function schedulerCli(
  pick: (m: SchedulerModule) => (argv: string[], io: ReturnType<typeof cliIo>) => Promise<number>,
): (rest: string[]) => Promise<void> {
  return async (rest) => {
    process.exitCode = await pick(await import('@hikyaku/scheduler'))(rest, cliIo());
  };
}

interface Command {
  name: string;
  /** Its arguments as `hikyaku --help` lists them ('' for none). */
  usage: string;
  /** What it does, a line or two. */
  about: string;
  run(rest: string[]): Promise<void>;
}

const COMMANDS: readonly Command[] = [
  {
    name: 'local',
    usage: '[--pool FILE] [--data-dir DIR] [--verbose]',
    about: 'run the whole relay on this machine (what npm start runs)',
    run: runLocalCommand,
  },
  {
    name: 'ingress',
    usage: '',
    about: 'run the SMTP ingress (configured from the environment)',
    run: component('ingress', async () =>
      (await import('@hikyaku/ingress')).runIngress(process.env),
    ),
  },
  {
    name: 'scheduler',
    usage: '',
    about: 'run the scheduler',
    run: component('scheduler', async () =>
      (await import('@hikyaku/scheduler')).runScheduler(process.env),
    ),
  },
  {
    name: 'sender',
    usage: '',
    about: 'run a sender (HIKYAKU_POOL, HIKYAKU_POD_NAME)',
    run: component('sender', async () => (await import('@hikyaku/sender')).runSender(process.env)),
  },
  {
    name: 'suppressions',
    usage: '<add|remove|lookup|list> --pool POOL [--redis URL --nats URL] [ADDRESS...]',
    about: "manage a pool's suppression list (--help for details)",
    run: schedulerCli((m) => m.runSuppressionsCli),
  },
  {
    name: 'reputation',
    usage: '<list|resume> --nats URL --pool POOL [IP...]',
    about: "show the sending IPs' reputation standing, resume paused IPs",
    run: schedulerCli((m) => m.runReputationCli),
  },
  {
    name: 'holds',
    usage: '<list|release> --redis URL --pool POOL [DOMAIN...]',
    about: 'sender domains held by the complaint guard, and their release',
    run: schedulerCli((m) => m.runHoldsCli),
  },
  {
    name: 'trace',
    usage: '[--nats URL] <queue-id | Message-ID | recipient>',
    about: "a message's timeline: accepted, planned, every attempt, the end",
    run: schedulerCli((m) => m.runTraceCli),
  },
  {
    name: 'queue',
    usage: '[--pool POOL] [--domain DOMAIN] [--hold|--release|--flush DOMAIN]',
    about: 'what waits per destination and why; hold, release or flush a destination',
    run: schedulerCli((m) => m.runQueueCli),
  },
  {
    name: 'status',
    usage: '[--nats URL --redis URL] [--pool POOL]',
    about: 'pools, IPs with state and warm-up use today, learned throttles, mail held',
    run: schedulerCli((m) => m.runStatusCli),
  },
  {
    name: 'shaping',
    usage: '--nats URL --redis URL --pool POOL [--json]',
    about: `each IP's warm-up day, cap, sent today and waiting mail, and the
destinations that take less than declared (learned rates)`,
    run: schedulerCli((m) => m.runShapingCli),
  },
  {
    name: 'wire-version',
    usage: '[--nats URL] [--set 1|2]',
    about: `the wire version the relay's pods write; raise it to 2 once an
upgrade from an earlier release is over`,
    run: schedulerCli((m) => m.runWireVersionCli),
  },
  {
    name: 'operator',
    usage: '',
    about: 'run the Kubernetes operator (docs/operator.md)',
    run: component('operator', async () =>
      (await import('@hikyaku/operator')).runOperator(process.env),
    ),
  },
  {
    name: 'remove-pools',
    usage: '',
    about: `delete every RelayPool and wait for the operator to finalize them
(what the chart runs before helm uninstall)`,
    run: async () => {
      const { removePoolsCommand } = await import('@hikyaku/operator');
      process.exitCode = await removePoolsCommand(process.env);
    },
  },
];

/** A command's entry in the overview: name and arguments, what it does indented below. */
function overview(command: Command): string {
  const indent = ' '.repeat(17);
  const about = command.about.split('\n');
  const head = command.usage
    ? `  ${command.name} ${command.usage}\n${indent}${about[0]}`
    : `  ${command.name}`.padEnd(indent.length) + about[0];
  return [head, ...about.slice(1).map((line) => indent + line)].join('\n');
}

const USAGE = `usage: hikyaku <command> [options]

commands:
${COMMANDS.map(overview).join('\n')}

hikyaku <command> --help shows a command's options.
`;

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help') {
    process.stdout.write(USAGE);
    return;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"`, USAGE);
  await command.run(rest);
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
