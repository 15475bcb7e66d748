/**
 * Hard bounce -> suppressed -> refused at ingress, end to end through the local stack
 * (ingress, scheduler and sender as processes): the bounce adds the address to the
 * pool's suppression list with the reply, the sender gets a DSN, the next submission to
 * that address is refused at RCPT TO, and `hikyaku suppressions` shows and clears it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runSuppressionsCli } from '@hikyaku/scheduler';
import { waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const CLI = fileURLToPath(new URL('../../bin/hikyaku.ts', import.meta.url));
const run = promisify(execFile);
const GONE = 'gone@example.test';
const SENDER = 'app@example.test';
let relay: RelayFixture;

before(async () => {
  relay = await startRelayFixture({
    spec: { bounces: { suppressHardBounces: true, notifySender: true } },
  });
  relay.sink.setBehaviour({
    onRcpt: (rcpt) =>
      rcpt === GONE
        ? {
            code: 550,
            message: `5.1.1 <${GONE}>: Recipient address rejected: User unknown in virtual mailbox table`,
          }
        : undefined,
  });
});

after(async () => {
  await relay?.stop();
});

async function cli(...args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      CLI,
      'suppressions',
      ...args,
    ]);
    return { stdout, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; code: number };
    return { stdout: e.stdout, code: e.code };
  }
}

/** The same command in this process: usage errors and quick checks need no new process. */
async function inProcess(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runSuppressionsCli(args, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {},
  });
  return { out: out.join('\n'), err: err.join('\n'), code };
}

async function send(to: string, marker: string) {
  const client = relayClient(relay.stack, 1);
  try {
    return await client.sendMail({
      envelope: { from: SENDER, to: [to] },
      raw: rawMessage({ from: SENDER, to, marker }),
    });
  } finally {
    client.close();
  }
}

test('a hard bounce suppresses the address; ingress then refuses it', async () => {
  const pool = ['--redis', relay.stack.redisUrl, '--pool', relay.stack.pool.key];
  await send(GONE, 'first');
  const bounce = await waitFor('the bounce', () =>
    relay.events.find((e) => e.type === 'bounced' && e.rcpt === GONE),
  );
  assert.equal(bounce.reply?.code, 550);

  await waitFor('the suppression', async () =>
    (await inProcess('lookup', ...pool, GONE)).out.includes('\tsuppressed\t'),
  );
  const out = await cli('lookup', ...pool, '--json', GONE);
  const lookup = JSON.parse(out.stdout.trim()) as {
    suppressed: boolean;
    entry?: { reason: string; source: string; reply?: { code: number; text: string } };
  };
  assert.equal(lookup.entry?.reason, 'hard-bounce');
  assert.equal(lookup.entry?.source, 'scheduler');
  assert.equal(lookup.entry?.reply?.code, 550);
  assert.match(lookup.entry?.reply?.text ?? '', /User unknown/);

  const dsn = await waitFor('the DSN', () =>
    relay.sink.messages.find((m) => m.from === '' && m.rcpts.includes(SENDER)),
  );
  assert.match(dsn.raw.toString('latin1'), /Status: 5\.1\.1/);

  await assert.rejects(
    send(GONE, 'second'),
    (err: { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 550);
      assert.match(err.response ?? '', /5\.1\.1/);
      return true;
    },
  );

  const listed = await inProcess('list', ...pool, '--all');
  assert.match(listed.out, new RegExp(`^${GONE}\\tsuppressed\\thard-bounce`, 'm'));
  assert.equal((await cli('remove', ...pool, GONE)).stdout.trim(), `removed ${GONE}`);
  const info = await send(GONE, 'third');
  assert.match(info.response, /^250 /);
});

test('the suppressions command adds by hand and explains bad usage', async () => {
  const pool = ['--redis', relay.stack.redisUrl, '--pool', 'local/test'];
  const added = await inProcess('add', ...pool, '--reason', 'complaint', 'Someone@Example.TEST');
  assert.equal(added.code, 0);
  const found = await inProcess('lookup', ...pool, 'someone@example.test');
  assert.match(found.out, /someone@example\.test\tsuppressed\tcomplaint\t/);
  await assert.rejects(send('someone@example.test', 'manual'), /5\.1\.1/);

  const missing = await inProcess('lookup', '--redis', relay.stack.redisUrl, 'x@example.test');
  assert.deepEqual([missing.code, /--pool is required/.test(missing.err)], [2, true]);
  const unknown = await inProcess('frobnicate', ...pool);
  assert.deepEqual([unknown.code, /unknown action "frobnicate"/.test(unknown.err)], [2, true]);
  const badOption = await inProcess('list', ...pool, '--colour');
  assert.equal(badOption.code, 2);
  const notAddress = await inProcess('add', ...pool, 'nobody');
  assert.deepEqual([notAddress.code, /"nobody" is not an address/.test(notAddress.err)], [2, true]);
  const down = await inProcess(
    'lookup',
    '--redis',
    'redis://127.0.0.1:1',
    '--pool',
    'a_b',
    'x@y.test',
  );
  assert.deepEqual([down.code, /HIKYAKU_REDIS_UNAVAILABLE/.test(down.err)], [1, true]);
});
