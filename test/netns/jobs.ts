/**
 * What the egress tests hand the senders and read back: jobs published as the scheduler
 * publishes them, and the receiver process's report of each message it got.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import {
  type BodyStore,
  type CompiledPool,
  codecs,
  type Job,
  MSG_IDS,
  type NatsHandles,
  SUBJECTS,
} from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';

/** What the receiver saw of one message. */
export interface Seen {
  peer: string;
  ehlo: string;
  rcpts: string[];
}

/** A one-recipient job for `ip` of `pool`, its body stored first. */
export async function publishJob(
  admin: NatsHandles,
  bodies: BodyStore,
  pool: CompiledPool,
  ip: string,
  rcpt: string,
): Promise<Job> {
  const id = randomUUID();
  const domain = rcpt.split('@')[1] ?? '';
  const raw = Buffer.from(
    `From: <app@shop.test>\r\nTo: <${rcpt}>\r\nSubject: egress\r\nMessage-ID: <${id}@shop.test>\r\n\r\nhello\r\n`,
  );
  const job: Job = {
    jobId: MSG_IDS.job(id, domain, 0),
    delivery: {
      id,
      pool: pool.key,
      domain,
      from: 'app@shop.test',
      rcpts: [rcpt],
      body: await bodies.put(id, raw),
      receivedAt: Date.now(),
    },
    ip,
    policy: 'default',
    attempt: 0,
  };
  await admin.js.publish(SUBJECTS.job(pool.key, ip), codecs.job.encode(job), { msgID: job.jobId });
  return job;
}

/**
 * Starts receiver-main.ts with `command` (an `ip netns exec` line); every message it reports
 * is pushed to `seen`. Resolves once it listens.
 */
export async function startReceiverProcess(
  command: string[],
  cwd: string,
  seen: Seen[],
): Promise<ChildProcess> {
  const [bin, ...args] = command;
  const child = spawn(bin as string, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  let listening = false;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const value = JSON.parse(line) as Seen | { listening: true };
    if ('listening' in value) listening = true;
    else seen.push(value);
  });
  try {
    await waitFor('the receiver to listen', () => listening, { timeoutMs: 30_000 });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}
