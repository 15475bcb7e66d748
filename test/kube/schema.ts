/**
 * The structural-schema walk the API server does before validating a custom resource:
 * prune fields the schema does not know, drop non-nullable nulls, apply `default`s
 * top-down (a defaulted object gets its own children's defaults), and name fields the way
 * field errors name them (`spec.ips[1].address`, `spec.labels[key]`).
 */
import { clone, isRecord } from './object.ts';

export interface CelRuleSpec {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

export interface JSONSchemaProps {
  type?: string;
  format?: string;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  items?: JSONSchemaProps;
  required?: string[];
  default?: unknown;
  nullable?: boolean;
  allOf?: JSONSchemaProps[];
  anyOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
  not?: JSONSchemaProps;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  'x-kubernetes-validations'?: CelRuleSpec[];
  [keyword: string]: unknown;
}

export type PathSegment = string | number | { key: string };

export function formatPath(path: PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string') out += out ? `.${seg}` : seg;
    else out += `[${seg.key}]`;
  }
  return out;
}

/** The schema that governs property `key` of an object governed by `schema`. */
export function propertySchema(
  schema: JSONSchemaProps | undefined,
  key: string,
): { schema: JSONSchemaProps | undefined; segment: PathSegment } {
  if (!schema) return { schema: undefined, segment: key };
  const prop = schema.properties?.[key];
  if (prop) return { schema: prop, segment: key };
  if (isRecord(schema.additionalProperties)) {
    return { schema: schema.additionalProperties as JSONSchemaProps, segment: { key } };
  }
  return { schema: undefined, segment: key };
}

/** Turns a JSON pointer into a field path, consulting the schema to tell maps from structs. */
export function pointerToPath(schema: JSONSchemaProps, pointer: string): PathSegment[] {
  const path: PathSegment[] = [];
  let cur: JSONSchemaProps | undefined = schema;
  if (!pointer) return path;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur?.type === 'array' && /^\d+$/.test(token)) {
      path.push(Number(token));
      cur = cur.items;
      continue;
    }
    const next = propertySchema(cur, token);
    path.push(next.segment);
    cur = next.schema;
  }
  return path;
}

const ROOT_FIELDS = ['apiVersion', 'kind', 'metadata'];

function keepsUnknown(schema: JSONSchemaProps): boolean {
  return schema['x-kubernetes-preserve-unknown-fields'] === true;
}

/**
 * Prunes and defaults `value` in place against `schema`; returns the value to keep
 * (`undefined` when the caller should drop it). `root` keeps apiVersion/kind/metadata,
 * as the server does for the top level and for embedded resources.
 */
function normalizeValue(
  schema: JSONSchemaProps | undefined,
  value: unknown,
  root: boolean,
): unknown {
  if (!schema) return value;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items) {
      for (let i = 0; i < value.length; i++) {
        value[i] = normalizeValue(items, value[i] === null ? nullFor(items) : value[i], false);
      }
    }
    return value;
  }
  if (!isRecord(value)) return value;
  const embedded = root || schema['x-kubernetes-embedded-resource'] === true;
  const additional = isRecord(schema.additionalProperties)
    ? (schema.additionalProperties as JSONSchemaProps)
    : undefined;
  for (const key of Object.keys(value)) {
    // Object metadata is the server's, whatever the schema says of it.
    if (embedded && key === 'metadata') continue;
    const prop = schema.properties?.[key] ?? additional;
    if (!prop) {
      const known = embedded && ROOT_FIELDS.includes(key);
      if (!known && !keepsUnknown(schema)) delete value[key];
      continue;
    }
    if (value[key] === null && prop.nullable !== true) {
      delete value[key];
      continue;
    }
    value[key] = normalizeValue(prop, value[key], false);
  }
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (!(key in value) && prop.default !== undefined) {
      value[key] = normalizeValue(prop, clone(prop.default), false);
    }
  }
  return value;
}

/** A null list item is replaced by the item default when there is one, as the server does. */
function nullFor(items: JSONSchemaProps): unknown {
  return items.nullable !== true && items.default !== undefined ? clone(items.default) : null;
}

/** A pruned and defaulted copy of `obj`. */
export function normalize<T>(schema: JSONSchemaProps, obj: T): T {
  return normalizeValue(schema, clone(obj), true) as T;
}

/** The schema's type name as the server prints it in CEL failures ("object", "string"). */
export function typeName(schema: JSONSchemaProps, value: unknown): string {
  if (schema.type) return schema.type;
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : typeof value;
}
