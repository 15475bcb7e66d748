/**
 * @nats-io/nats-core 3.4's `request` reads and writes the options object it is given
 * (`opts.timeout`) and hands it on to `RequestOne`. Its callers build that object in
 * different shapes: a JetStream publish `{ timeout, headers }`, a direct get `{ timeout }`,
 * every JetStream API call a fresh `{ ...rest, timeout }`. V8 optimizes `request` and
 * `RequestOne` for the shapes the hot path passes; each time a periodic call passed another
 * (the consumer watchdog's `consumers.info` every 10 s, the reputation tick's KV read and
 * write every 30 s) their optimized code was thrown away ("wrong map"), the hot path ran
 * unoptimized for a few thousand calls and was compiled again, 40–100 ms each time.
 *
 * `oneShapeRequestOptions` puts a `request` in front of the library's that copies the
 * options into one object literal with fixed fields, so the library's code only ever sees
 * one shape. The fields are the ones the library's `request` and `RequestOne` read; the
 * client is pinned to an exact version, and the services refuse to start with
 * `HIKYAKU_NATS_CLIENT_HOOK_MISSING` if the installed `request` reads any other option.
 */
import { NatsConnectionImpl, RequestOne } from '@nats-io/nats-core/internal';
import { NatsClientHookMissingError } from './nats-request.ts';

/** The option fields `request` (and `RequestOne`, which it hands them to) read in 3.4.0. */
const READ_FIELDS = ['headers', 'noMux', 'reply', 'timeout', 'traceDestination', 'traceOnly'];

const ORIGINAL_REQUEST = Symbol.for('hikyaku.natsRequest');

/** Everything `request` may read; the same fields in the same order for every caller. */
export interface RequestOptionsShape {
  timeout: number | undefined;
  headers: unknown;
  noMux: boolean | undefined;
  reply: string | undefined;
  traceDestination: string | undefined;
  traceOnly: boolean | undefined;
}

type Request = (
  this: unknown,
  subject: string,
  data?: unknown,
  opts?: Partial<RequestOptionsShape>,
) => Promise<unknown>;

interface ConnectionPrototype {
  request: Request;
  [ORIGINAL_REQUEST]?: Request;
}

export function requestOptionsShape(opts: Partial<RequestOptionsShape>): RequestOptionsShape {
  return {
    timeout: opts.timeout,
    headers: opts.headers,
    noMux: opts.noMux,
    reply: opts.reply,
    traceDestination: opts.traceDestination,
    traceOnly: opts.traceOnly,
  };
}

/** The option fields a `request` implementation reads (`opts.x` and `const { x } = opts`). */
export function optionFieldsRead(fn: unknown): string[] {
  const body = String(fn).replace(/\/\/.*$/gm, '');
  const fields = new Set<string>();
  for (const m of body.matchAll(/\bopts\??\.([A-Za-z_]+)/g)) fields.add(m[1] as string);
  for (const m of body.matchAll(/const\s*\{([^}]*)\}\s*=\s*opts\b/g)) {
    for (const name of (m[1] as string).split(',')) {
      const field = name.split(':')[0]?.trim();
      if (field) fields.add(field);
    }
  }
  return [...fields].sort();
}

function prototypeOf(): ConnectionPrototype {
  return NatsConnectionImpl.prototype as unknown as ConnectionPrototype;
}

/**
 * Throws NatsClientHookMissingError when `request` reads other options than this module
 * copies, or `RequestOne`, which `request` hands them to, reads one it does not.
 */
export function checkNatsRequestOptions(): void {
  const proto = prototypeOf();
  const request = proto[ORIGINAL_REQUEST] ?? proto.request;
  if (typeof request !== 'function') {
    throw new NatsClientHookMissingError('NatsConnectionImpl.request');
  }
  const read = optionFieldsRead(request);
  if (read.join(',') !== READ_FIELDS.join(',')) {
    throw new NatsClientHookMissingError(
      `the options NatsConnectionImpl.request reads (${read.join(', ')})`,
    );
  }
  const readOnward = optionFieldsRead(RequestOne);
  if (readOnward.length === 0 || readOnward.some((field) => !READ_FIELDS.includes(field))) {
    throw new NatsClientHookMissingError(
      `the options RequestOne reads (${readOnward.join(', ') || 'none found'})`,
    );
  }
}

/** What `request` is given when its caller gave nothing: the library's defaults apply. */
const NO_OPTIONS: Partial<RequestOptionsShape> = {};

/** Six shapes, more than an inline cache keeps apart before it goes megamorphic (four). */
const SAMPLE_SHAPES: Partial<RequestOptionsShape>[] = [
  {},
  { timeout: 1 },
  { headers: undefined },
  { noMux: false },
  { reply: '' },
  { traceOnly: false },
];

/** Installs the one-shape `request` once per process; later calls do nothing. */
export function oneShapeRequestOptions(): void {
  checkNatsRequestOptions();
  const proto = prototypeOf();
  if (proto[ORIGINAL_REQUEST]) return;
  proto[ORIGINAL_REQUEST] = proto.request;
  proto.request = function request(subject, data, opts) {
    // Looked up at each call (one property read) so that a test can stand in for the client.
    const original = proto[ORIGINAL_REQUEST] as Request;
    // No options: the library's defaults (a timeout of 1000 ms, muxed) apply to an empty one.
    return original.call(this, subject, data, requestOptionsShape(opts ?? NO_OPTIONS));
  };
  // The copy itself reads options of every caller's shape. A periodic call's options object
  // is garbage between calls, and once no object of its shape is left V8 may collect the
  // shape's map: the next call brings a new map, which optimized code checking the maps it
  // has seen rejects, every time. Objects of six shapes passed here first, after the calls
  // V8 needs before it records anything, leave the copy's reads megamorphic: a generic
  // load, never a map check to fail.
  for (let round = 0; round < 3; round++) {
    for (const sample of SAMPLE_SHAPES) requestOptionsShape(sample);
  }
}
