/**
 * The one entrypoint of the image: `hikyaku <component>` runs a component; `hikyaku local`
 * runs the whole relay on this machine.
 */
import { parseArgs } from 'node:util';

const USAGE = `usage: hikyaku <command> [options]

commands:
  local [--pool FILE] [--data-dir DIR] [--verbose]
                 run the whole relay on this machine (what npm start runs)
  ingress        run the SMTP ingress (configured from the environment)
  scheduler      run the scheduler
  sender         run a sender (HIKYAKU_POOL, HIKYAKU_POD_NAME)
  suppressions <add|remove|lookup|list> --redis URL --pool POOL [ADDRESS...]
                 manage a pool's suppression list (--help for details)
  shaping --nats URL --redis URL --pool POOL [--json]
                 each IP's warm-up day, cap, sent today and waiting mail, and the
                 destinations that take less than declared (learned rates)
  operator       run the Kubernetes operator (docs/operator.md)
`;

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
  process.stderr.write(`hikyaku: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
  process.exit(1);
});
