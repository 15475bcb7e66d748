/** Helpers shared by the stand-in's own tests. */
import { ApiException } from '@kubernetes/client-node';
import type { StatusBody } from './errors.ts';

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 2000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The Status body of a failed client-node call (client-node leaves it as a string). */
export async function statusOf(call: Promise<unknown>): Promise<StatusBody> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiException) {
      const body = err.body as unknown;
      return (typeof body === 'string' ? JSON.parse(body) : body) as StatusBody;
    }
    throw err;
  }
  throw new Error('expected the call to fail');
}
