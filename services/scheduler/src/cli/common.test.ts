import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CliCommand,
  CliError,
  type CliIo,
  HELP,
  parseCommandLine,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';

function io(env: Record<string, string> = {}, localStack?: CliIo['localStack']) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
      env,
      ...(localStack ? { localStack } : {}),
    },
  };
}

const echo: CliCommand<{ what: string }> = {
  name: 'echo',
  usage: 'usage: hikyaku echo WHAT\n',
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, { loud: { type: 'boolean' } });
    if (values.help) return HELP;
    if (positionals.length !== 1) throw usageError('name one thing');
    return { what: positionals[0] as string };
  },
  async run({ what }, cli) {
    if (what === 'pool') throw new CliError('HIKYAKU_UNKNOWN_POOL', 'no pool "pool"');
    if (what === 'broken') throw new Error('it broke');
    cli.out(what);
    return 0;
  },
};

test('every command answers help, usage errors, coded failures and success alike', async () => {
  const help = io();
  assert.equal(await runCommand(echo, ['--help'], help.io), 0);
  assert.deepEqual(help.out, [echo.usage]);

  const wrong = io();
  assert.equal(await runCommand(echo, ['--lound', 'x'], wrong.io), 2);
  assert.match(wrong.err[0] ?? '', /^hikyaku echo: Unknown option '--lound'/);
  assert.equal(wrong.err[1], echo.usage);
  const none = io();
  assert.equal(await runCommand(echo, [], none.io), 2);
  assert.equal(none.err[0], 'hikyaku echo: name one thing');

  const unknown = io();
  assert.equal(await runCommand(echo, ['pool'], unknown.io), 1);
  assert.deepEqual(unknown.err, ['hikyaku echo: [HIKYAKU_UNKNOWN_POOL] no pool "pool"']);
  const broken = io();
  assert.equal(await runCommand(echo, ['broken'], broken.io), 1);
  assert.deepEqual(broken.err, ['hikyaku echo: it broke']);

  const fine = io();
  assert.equal(await runCommand(echo, ['hello'], fine.io), 0);
  assert.deepEqual(fine.out, ['hello']);
});

test('the relay is found through the options, the environment, then the local mode', async () => {
  const given = await relayUrls(
    { nats: 'nats://a', redis: 'redis://a' },
    io({ NATS_URL: 'nats://env' }).io,
    { nats: true, redis: true },
  );
  assert.deepEqual(given, { natsUrl: 'nats://a', redisUrl: 'redis://a' });
  const fromEnv = await relayUrls({}, io({ NATS_URL: 'nats://env' }).io, {
    nats: true,
    redis: false,
  });
  assert.deepEqual(fromEnv, { natsUrl: 'nats://env', redisUrl: undefined });
  const local = async (dir: string) => ({ natsUrl: `nats://${dir}`, redisUrl: `redis://${dir}` });
  assert.deepEqual(
    await relayUrls({ dataDir: 'here' }, io({}, local).io, { nats: true, redis: true }),
    { natsUrl: 'nats://here', redisUrl: 'redis://here' },
  );
  const noStack = async () => {
    throw new Error('no local mode runs from .hikyaku');
  };
  await assert.rejects(
    relayUrls({}, io({}, noStack).io, { nats: true, redis: true }),
    (err: CliError) =>
      err.status === 2 &&
      /^--redis URL and --nats URL needed \(or set REDIS_URL and NATS_URL, or run it beside a local mode\); no local mode runs/.test(
        err.message,
      ),
  );
});
