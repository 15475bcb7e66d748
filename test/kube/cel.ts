/**
 * `x-kubernetes-validations` rules, evaluated with @marcbachmann/cel-js. The library covers
 * the CEL language and its standard functions; the parts of the Kubernetes CEL library a
 * CRD is likely to use for this project are registered here: `isIP`, `ip()`,
 * `ip.isCanonical`, `isCIDR`, `cidr()` (`containsIP`, `prefixLength`), `isURL`, list
 * `isSorted`/`sum`/`min`/`max` and string `replace`. A rule using anything else fails at
 * CRD load, naming the rule, rather than silently passing.
 */
import { BlockList, isIP } from 'node:net';
import { Environment, Optional } from '@marcbachmann/cel-js';
import { isRecord } from './object.ts';
import type { CelRuleSpec, JSONSchemaProps } from './schema.ts';

class CelIP {
  constructor(readonly address: string) {}
}

class CelCIDR {
  constructor(
    readonly address: string,
    readonly prefix: number,
  ) {}
}

function parseCidr(s: string): CelCIDR | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const family = isIP(m[1]!);
  const prefix = Number(m[2]);
  if (family === 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  return new CelCIDR(m[1]!, prefix);
}

function familyOf(address: string): bigint {
  return BigInt(isIP(address));
}

function cidrContains(cidr: CelCIDR, address: string): boolean {
  const family = isIP(address);
  if (family === 0 || family !== isIP(cidr.address)) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(cidr.address, cidr.prefix, type);
  return list.check(address, type);
}

/** The `ip` library namespace, so that `ip.isCanonical(s)` resolves as a method call. */
class CelIPLibrary {}

/** RFC 5952 form for IPv6 (what a URL host serialises to), plain dotted quad for IPv4. */
function isCanonicalIp(s: string): boolean {
  const family = isIP(s);
  if (family === 4) return true;
  if (family !== 6 || s.includes('%')) return false;
  return new URL(`http://[${s}]/`).hostname === `[${s}]`;
}

type Ordered = bigint | number | string;

function isSorted(list: Ordered[]): boolean {
  return list.every((x, i) => i === 0 || list[i - 1]! <= x);
}

function extreme(list: Ordered[], pick: (a: Ordered, b: Ordered) => boolean): Ordered {
  if (list.length === 0) throw new Error('min/max of an empty list');
  return list.reduce((a, b) => (pick(a, b) ? a : b));
}

function sum(list: (bigint | number)[]): bigint | number {
  if (list.every((x) => typeof x === 'bigint')) return list.reduce((a, b) => a + b, 0n);
  return list.reduce<number>((a, b) => a + Number(b), 0);
}

function isUrl(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

/** One environment per validator: building it is the expensive part. */
export function createCelEnvironment(): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: true,
    enableOptionalTypes: true,
    homogeneousAggregateLiterals: false,
  });
  env
    .registerType('net.IP', CelIP)
    .registerType('net.CIDR', CelCIDR)
    .registerType('k8s.IPLibrary', CelIPLibrary)
    .registerConstant('ip', 'k8s.IPLibrary', new CelIPLibrary())
    .registerFunction({
      name: 'isCanonical',
      receiverType: 'k8s.IPLibrary',
      returnType: 'bool',
      handler: (_lib: CelIPLibrary, s: string) => isCanonicalIp(s),
      params: [{ name: 'ip', type: 'string' }],
    })
    .registerFunction('isIP(string): bool', (s: string) => isIP(s) !== 0)
    .registerFunction('ip(string): net.IP', (s: string) => {
      if (isIP(s) === 0) throw new Error(`IP Address "${s}" parse error`);
      return new CelIP(s);
    })
    .registerFunction('isCIDR(string): bool', (s: string) => parseCidr(s) !== undefined)
    .registerFunction('cidr(string): net.CIDR', (s: string) => {
      const c = parseCidr(s);
      if (!c) throw new Error(`network address parse error during conversion from string: ${s}`);
      return c;
    })
    .registerFunction('isURL(string): bool', isUrl)
    .registerFunction({
      name: 'family',
      receiverType: 'net.IP',
      returnType: 'int',
      handler: (ip: CelIP) => familyOf(ip.address),
      params: [],
    })
    .registerFunction({
      name: 'containsIP',
      receiverType: 'net.CIDR',
      returnType: 'bool',
      handler: (c: CelCIDR, ip: string) => cidrContains(c, ip),
      params: [{ name: 'ip', type: 'string' }],
    })
    .registerFunction({
      name: 'containsIP',
      receiverType: 'net.CIDR',
      returnType: 'bool',
      handler: (c: CelCIDR, ip: CelIP) => cidrContains(c, ip.address),
      params: [{ name: 'ip', type: 'net.IP' }],
    })
    .registerFunction({
      name: 'prefixLength',
      receiverType: 'net.CIDR',
      returnType: 'int',
      handler: (c: CelCIDR) => BigInt(c.prefix),
      params: [],
    })
    .registerFunction({
      name: 'isSorted',
      receiverType: 'list',
      returnType: 'bool',
      handler: isSorted,
      params: [],
    })
    .registerFunction({
      name: 'sum',
      receiverType: 'list',
      returnType: 'dyn',
      handler: sum,
      params: [],
    })
    .registerFunction({
      name: 'min',
      receiverType: 'list',
      returnType: 'dyn',
      handler: (l: Ordered[]) => extreme(l, (a, b) => a <= b),
      params: [],
    })
    .registerFunction({
      name: 'max',
      receiverType: 'list',
      returnType: 'dyn',
      handler: (l: Ordered[]) => extreme(l, (a, b) => a >= b),
      params: [],
    })
    .registerFunction({
      name: 'replace',
      receiverType: 'string',
      returnType: 'string',
      handler: (s: string, from: string, to: string) => s.split(from).join(to),
      params: [
        { name: 'from', type: 'string' },
        { name: 'to', type: 'string' },
      ],
    });
  return env;
}

export interface CompiledRule {
  spec: CelRuleSpec;
  /** Uses `oldSelf`: evaluated only on update, when an old value exists (or is optional). */
  transition: boolean;
  check: (ctx: Record<string, unknown>) => unknown;
  message?: (ctx: Record<string, unknown>) => unknown;
}

export class CelRuleError extends Error {
  override readonly name = 'CelRuleError';
  readonly code = 'CEL_RULE_INVALID';
  /** Where the rule sits in the schema, e.g. `.properties[spec].x-kubernetes-validations[0].rule`. */
  field = '';
}

export function compileRule(env: Environment, spec: CelRuleSpec): CompiledRule {
  const compile = (source: unknown) => {
    if (typeof source !== 'string') {
      throw new CelRuleError(`a rule must be a string, got ${JSON.stringify(source)}`);
    }
    try {
      const program = env.parse(source);
      const checked = program.check();
      if (!checked.valid) throw checked.error;
      return program;
    } catch (err) {
      throw new CelRuleError(`compilation failed for rule "${source}": ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  const rule: CompiledRule = {
    spec,
    transition: /\boldSelf\b/.test(spec.rule),
    check: compile(spec.rule),
  };
  if (spec.messageExpression) rule.message = compile(spec.messageExpression);
  return rule;
}

/** JSON value → CEL value: integers are CEL ints (BigInt) where the schema says integer. */
export function toCel(value: unknown, schema: JSONSchemaProps | undefined): unknown {
  if (typeof value === 'number') {
    const integral =
      schema?.type === 'integer' || (schema?.type !== 'number' && Number.isInteger(value));
    return integral ? BigInt(value) : value;
  }
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema?.items));
  if (isRecord(value)) {
    const additional = isRecord(schema?.additionalProperties)
      ? (schema.additionalProperties as JSONSchemaProps)
      : undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = toCel(v, schema?.properties?.[k] ?? additional);
    }
    return out;
  }
  return value;
}

export type RuleOutcome = { ok: true } | { ok: false; message: string };

/**
 * Runs one rule at one node. `old` is undefined on create or when the node has no
 * counterpart in the old object; a transition rule is then skipped unless it opted into
 * `optionalOldSelf`.
 */
export function runRule(
  rule: CompiledRule,
  self: unknown,
  old: { value: unknown } | undefined,
  schema: JSONSchemaProps,
): RuleOutcome | undefined {
  const ctx: Record<string, unknown> = { self: toCel(self, schema) };
  if (rule.transition) {
    if (old) {
      const oldValue = toCel(old.value, schema);
      ctx.oldSelf = rule.spec.optionalOldSelf ? Optional.of(oldValue) : oldValue;
    } else if (rule.spec.optionalOldSelf) {
      ctx.oldSelf = Optional.none();
    } else {
      return undefined;
    }
  }
  let passed: unknown;
  try {
    passed = rule.check(ctx);
  } catch (err) {
    return {
      ok: false,
      message: `rule "${rule.spec.rule}" failed to evaluate: ${(err as Error).message}`,
    };
  }
  if (passed === true) return { ok: true };
  if (rule.message) {
    try {
      const text = rule.message(ctx);
      if (typeof text === 'string' && text.trim()) return { ok: false, message: text };
    } catch {
      // The server falls back to the static message when messageExpression fails.
    }
  }
  return { ok: false, message: rule.spec.message ?? `failed rule: ${rule.spec.rule}` };
}
