/**
 * The one entrypoint of the image: `hikyaku <component>` runs a component; `hikyaku local`
 * runs the whole relay on this machine.
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
  trace [--nats URL] <queue-id | Message-ID | recipient>
                 a message's timeline: accepted, planned, every attempt, the end
  status [--nats URL --redis URL] [--pool POOL]
                 pools, IPs with state and warm-up use today, learned throttles, mail held
  operator       run the Kubernetes operator (docs/operator.md)
`;

/**
 * The tools that read the relay find it through --nats / NATS_URL, or else through the
 * stack file a local mode running from the data folder wrote.
 */
async function localStack(dataDir: string): Promise<{ natsUrl: string; redisUrl: string }> {
  const { readStackFile, STACK_FILE_NAME } = await import('@hikyaku/local');
  return readStackFile(join(dataDir, STACK_FILE_NAME));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
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
    case 'local': {
      const { values } = parseArgs({
        args: rest,
        options: {
          pool: { type: 'string' },
          'data-dir': { type: 'string', default: '.hikyaku' },
          verbose: { type: 'boolean', default: false },
        },
      });
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
      return;
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`hikyaku: unknown command "${command}"\n${USAGE}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
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
