/**
 * Validation of custom resources as the API server does it: the `openAPIV3Schema` (via ajv,
 * with the formats Kubernetes knows), list-type uniqueness, int-or-string, and the
 * `x-kubernetes-validations` CEL rules at every node, with `oldSelf` on update. Failures
 * come back as Status causes naming the field (`spec.ips[1].address`).
 */
import { isIP } from 'node:net';
import type { Environment } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { CelRuleError, type CompiledRule, compileRule, runRule } from './cel.ts';
import type { StatusCause } from './errors.ts';
import { deepEqual, isRecord, type KubeObject } from './object.ts';
import {
  formatPath,
  type JSONSchemaProps,
  normalize,
  type PathSegment,
  pointerToPath,
  propertySchema,
  typeName,
} from './schema.ts';

export interface ObjectValidator {
  /** Prunes unknown fields and applies defaults; returns a new object. */
  normalize(obj: KubeObject): KubeObject;
  /** Schema and CEL failures of `obj`; `old` is the stored object on update. */
  validate(obj: KubeObject, old: KubeObject | undefined): StatusCause[];
}

const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$/;

export function createAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateFormats: true });
  addFormats.default(ajv);
  // Kubernetes' "duration" is Go's time.ParseDuration, not ISO 8601.
  ajv.addFormat('duration', GO_DURATION);
  ajv.addFormat('cidr', (s: string) => {
    const [addr, bits, ...rest] = s.split('/');
    const family = isIP(addr ?? '');
    const n = Number(bits);
    return (
      rest.length === 0 &&
      family !== 0 &&
      /^\d+$/.test(bits ?? '') &&
      n <= (family === 4 ? 32 : 128)
    );
  });
  return ajv;
}

/** A copy ajv accepts: `nullable` only where a `type` is present. */
function forAjv(schema: JSONSchemaProps): JSONSchemaProps {
  const out: JSONSchemaProps = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'nullable' && !schema.type) continue;
    if (k === 'default' || k === 'x-kubernetes-validations') continue;
    if (k === 'properties' && isRecord(v)) {
      out.properties = Object.fromEntries(
        Object.entries(v).map(([p, s]) => [p, forAjv(s as JSONSchemaProps)]),
      );
    } else if ((k === 'items' || k === 'not' || k === 'additionalProperties') && isRecord(v)) {
      out[k] = forAjv(v as JSONSchemaProps);
    } else if ((k === 'allOf' || k === 'anyOf' || k === 'oneOf') && Array.isArray(v)) {
      out[k] = v.map((s) => forAjv(s as JSONSchemaProps));
    } else {
      out[k] = v;
    }
  }
  return out;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let cur = doc;
  if (!pointer) return cur;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) cur = cur[Number(token)];
    else if (isRecord(cur)) cur = cur[token];
    else return undefined;
  }
  return cur;
}

/** How the server prints a value in field errors. */
function describe(v: unknown): string {
  if (Array.isArray(v)) return '"array"';
  if (isRecord(v)) return '"object"';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function actualType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function ajvCause(schema: JSONSchemaProps, doc: unknown, e: ErrorObject): StatusCause {
  const path = pointerToPath(schema, e.instancePath);
  const v = valueAt(doc, e.instancePath);
  const p = e.params as Record<string, unknown>;
  const field = formatPath(path);
  const invalidValue = (what: string): StatusCause => ({
    reason: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${describe(v)}: ${field} in body ${what}`,
  });
  switch (e.keyword) {
    case 'required':
      return {
        reason: 'FieldValueRequired',
        field: formatPath([...path, String(p.missingProperty)]),
        message: 'Required value',
      };
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ');
      return {
        reason: 'FieldValueNotSupported',
        field,
        message: `Unsupported value: ${describe(v)}: supported values: ${allowed}`,
      };
    }
    case 'type':
      return {
        reason: 'FieldValueTypeInvalid',
        field,
        message: `Invalid value: "${actualType(v)}": ${field} in body must be of type ${String(p.type)}: "${actualType(v)}"`,
      };
    case 'format':
      return invalidValue(`must be of type ${String(p.format)}: ${describe(v)}`);
    case 'pattern':
      return invalidValue(`should match '${String(p.pattern)}'`);
    case 'maxLength':
      return {
        reason: 'FieldValueTooLong',
        field,
        message: `Too long: may not be more than ${String(p.limit)} bytes`,
      };
    case 'maxItems':
      return {
        reason: 'FieldValueTooMany',
        field,
        message: `Too many: ${Array.isArray(v) ? v.length : 0}: must have at most ${String(p.limit)} items`,
      };
    case 'minimum':
    case 'exclusiveMinimum':
      return invalidValue(`should be greater than or equal to ${String(p.limit)}`);
    case 'maximum':
    case 'exclusiveMaximum':
      return invalidValue(`should be less than or equal to ${String(p.limit)}`);
    case 'minLength':
      return invalidValue(`should be at least ${String(p.limit)} chars long`);
    case 'minItems':
      return invalidValue(`should have at least ${String(p.limit)} items`);
    default:
      return invalidValue(e.message ?? e.keyword);
  }
}

/** Errors inside an anyOf/oneOf branch are summarised by the anyOf/oneOf error itself. */
function isBranchNoise(e: ErrorObject): boolean {
  return /\/(anyOf|oneOf|not)\//.test(e.schemaPath);
}

interface Walk {
  /** Structural checks first; CEL rules only once the structure is sound, as on the server. */
  phase: 'structure' | 'rules';
  rules: Map<JSONSchemaProps, CompiledRule[]>;
  causes: StatusCause[];
}

function listItemKey(schema: JSONSchemaProps, item: unknown): string {
  if (schema['x-kubernetes-list-type'] !== 'map' || !isRecord(item)) return JSON.stringify(item);
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  return JSON.stringify(keys.map((k) => item[k]));
}

function checkListType(schema: JSONSchemaProps, list: unknown[], path: PathSegment[], w: Walk) {
  const type = schema['x-kubernetes-list-type'];
  if (type !== 'set' && type !== 'map') return;
  const seen = new Set<string>();
  list.forEach((item, i) => {
    const key = listItemKey(schema, item);
    if (seen.has(key)) {
      w.causes.push({
        reason: 'FieldValueDuplicate',
        field: formatPath([...path, i]),
        message: `Duplicate value: ${type === 'map' ? key : JSON.stringify(item)}`,
      });
    }
    seen.add(key);
  });
}

function checkIntOrString(schema: JSONSchemaProps, value: unknown, path: PathSegment[], w: Walk) {
  if (!schema['x-kubernetes-int-or-string']) return;
  if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))) return;
  const field = formatPath(path);
  w.causes.push({
    reason: 'FieldValueTypeInvalid',
    field,
    message: `Invalid value: ${describe(value)}: ${field} in body must be of type integer-or-string`,
  });
}

function runRules(
  schema: JSONSchemaProps,
  value: unknown,
  old: { value: unknown } | undefined,
  path: PathSegment[],
  w: Walk,
) {
  for (const rule of w.rules.get(schema) ?? []) {
    const outcome = runRule(rule, value, old, schema);
    if (!outcome || outcome.ok) continue;
    const sub = rule.spec.fieldPath ? rule.spec.fieldPath.replace(/^\./, '').split('.') : [];
    w.causes.push({
      reason: rule.spec.reason ?? 'FieldValueInvalid',
      field: formatPath([...path, ...sub]),
      message: `Invalid value: "${typeName(schema, value)}": ${outcome.message}`,
    });
  }
}

function walk(
  schema: JSONSchemaProps,
  value: unknown,
  old: { value: unknown } | undefined,
  path: PathSegment[],
  w: Walk,
): void {
  if (value === undefined || value === null) return;
  if (w.phase === 'structure') checkIntOrString(schema, value, path, w);
  else runRules(schema, value, old, path, w);
  if (Array.isArray(value)) {
    if (w.phase === 'structure') checkListType(schema, value, path, w);
    const items = schema.items;
    if (!items) return;
    const oldList = old && Array.isArray(old.value) ? old.value : undefined;
    const correlate = schema['x-kubernetes-list-type'] === 'map' && oldList;
    value.forEach((item, i) => {
      const match = correlate
        ? oldList.find((o) => listItemKey(schema, o) === listItemKey(schema, item))
        : undefined;
      walk(items, item, match === undefined ? undefined : { value: match }, [...path, i], w);
    });
    return;
  }
  if (!isRecord(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const next = propertySchema(schema, key);
    if (!next.schema) continue;
    const oldObj = old && isRecord(old.value) ? old.value : undefined;
    const oldChild = oldObj && key in oldObj ? { value: oldObj[key] } : undefined;
    walk(next.schema, child, oldChild, [...path, next.segment], w);
  }
}

function compileRules(
  env: Environment,
  schema: JSONSchemaProps,
  out: Map<JSONSchemaProps, CompiledRule[]>,
  at = '',
): void {
  const specs = schema['x-kubernetes-validations'];
  if (specs?.length) {
    const compiled = specs.map((spec, i) => {
      try {
        return compileRule(env, spec);
      } catch (err) {
        if (err instanceof CelRuleError) err.field = `${at}.x-kubernetes-validations[${i}].rule`;
        throw err;
      }
    });
    out.set(schema, compiled);
  }
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    compileRules(env, child, out, `${at}.properties[${name}]`);
  }
  if (schema.items) compileRules(env, schema.items, out, `${at}.items`);
  if (isRecord(schema.additionalProperties)) {
    const values = schema.additionalProperties as JSONSchemaProps;
    compileRules(env, values, out, `${at}.additionalProperties`);
  }
}

export type ValidatorFactory = (schema: JSONSchemaProps) => ObjectValidator;

/** One ajv instance and CEL environment shared by every schema the factory compiles. */
export function createObjectValidatorFactory(env: Environment): ValidatorFactory {
  const ajv = createAjv();
  return (schema) => createObjectValidator(schema, ajv, env);
}

/** Compiles a version's schema; throws (CelRuleError) when a rule cannot be compiled. */
export function createObjectValidator(
  schema: JSONSchemaProps,
  ajv: Ajv,
  env: Environment,
): ObjectValidator {
  const check: ValidateFunction = ajv.compile(forAjv(schema));
  const rules = new Map<JSONSchemaProps, CompiledRule[]>();
  compileRules(env, schema, rules);
  return {
    normalize: (obj) => normalize(schema, obj),
    validate(obj, old) {
      const w: Walk = { phase: 'structure', rules, causes: [] };
      if (!check(obj)) {
        for (const e of check.errors ?? []) {
          if (!isBranchNoise(e)) w.causes.push(ajvCause(schema, obj, e));
        }
      }
      const oldRoot = old ? { value: old } : undefined;
      walk(schema, obj, oldRoot, [], w);
      if (w.causes.some((c) => BLOCKING.includes(c.reason))) {
        w.causes.push(RULES_NOT_CHECKED);
      } else {
        w.phase = 'rules';
        walk(schema, obj, oldRoot, [], w);
      }
      return dedupe(w.causes);
    },
  };
}

/** Failures that leave values of the wrong type, on which rules cannot be evaluated. */
const BLOCKING = ['FieldValueTypeInvalid', 'FieldValueNotSupported'];

const RULES_NOT_CHECKED: StatusCause = {
  reason: 'FieldValueInvalid',
  message:
    'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
};

function dedupe(causes: StatusCause[]): StatusCause[] {
  return causes.filter((c, i) => causes.findIndex((d) => deepEqual(c, d)) === i);
}
