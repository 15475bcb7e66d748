/**
 * @nats-io/nats-core 3.4 ends every request it muxes — every JetStream publish, ack-ack and
 * API call — through `RequestOne.cancel`, which builds a `RequestError("cancelled")`, stack
 * capture included, to reject a promise the answer has already resolved. Profiles of the
 * services showed that unused error at 1.5–4 % of each service's CPU. The option
 * `noAsyncTraces` does not reach it.
 *
 * `quietAnsweredRequests` replaces the answered path of `RequestOne.resolver`: it releases
 * the timer and the inbox token and resolves, as the library does, without building the
 * error. Failures (no responders, timeouts, a closed connection) still go through the
 * library's own code. The client is pinned to an exact version; the replacement is
 * installed only over the `resolver` and `cancel` it was written against, and the services
 * refuse to start on a version where they changed.
 */
import { RequestOne } from '@nats-io/nats-core/internal';
import { HikyakuError } from './errors.ts';

export class NatsClientHookMissingError extends HikyakuError {
  constructor(what: string) {
    super(
      'HIKYAKU_NATS_CLIENT_HOOK_MISSING',
      `the installed @nats-io/nats-core changed ${what}; this build of hikyaku expects 3.4.0`,
    );
    this.name = 'NatsClientHookMissingError';
  }
}

/** The calls, in order, the methods replaced here made in the version they were written for. */
const EXPECTED_CALLS = {
  resolver: ['cancel', 'RequestError', 'reject', 'resolve', 'cancel'],
  cancel: ['cancel', 'cancel', 'reject', 'RequestError'],
} as const;

const QUIET = Symbol.for('hikyaku.quietAnsweredRequests');

interface RequestInternals {
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  deferred: { resolve(msg: unknown): void };
}

type Resolver = (this: RequestInternals, err: Error | null, msg: unknown) => void;

function callsOf(fn: unknown): string[] {
  const body = String(fn).replace(/\/\/.*$/gm, '');
  return [...body.matchAll(/\.?([A-Za-z_]+)\(/g)]
    .map((m) => m[1] as string)
    .filter((name, i) => !(i === 0 && (name === 'resolver' || name === 'cancel')));
}

/** Throws NatsClientHookMissingError when the request internals are not the expected ones. */
export function checkNatsClientHooks(): void {
  const proto = RequestOne.prototype as unknown as Record<string, unknown> & {
    [QUIET]?: Resolver;
  };
  for (const name of ['resolver', 'cancel'] as const) {
    const fn = name === 'resolver' && proto[QUIET] ? proto[QUIET] : proto[name];
    if (typeof fn !== 'function') throw new NatsClientHookMissingError(`RequestOne.${name}`);
    const calls = callsOf(fn);
    if (calls.join(',') !== EXPECTED_CALLS[name].join(',')) {
      throw new NatsClientHookMissingError(`RequestOne.${name} (calls: ${calls.join(', ')})`);
    }
  }
}

/** Installs the quiet answered path once per process; later calls do nothing. */
export function quietAnsweredRequests(): void {
  checkNatsClientHooks();
  const proto = RequestOne.prototype as unknown as { resolver: Resolver; [QUIET]?: Resolver };
  if (proto[QUIET]) return;
  const original = proto.resolver;
  proto[QUIET] = original;
  proto.resolver = function resolver(err, msg) {
    if (err) {
      original.call(this, err, msg);
      return;
    }
    this.timer?.cancel();
    this.mux.cancel(this);
    this.deferred.resolve(msg);
  };
}
