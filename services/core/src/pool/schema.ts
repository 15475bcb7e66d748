/**
 * The RelayPool schema applied without Kubernetes. Local mode reads a RelayPool from a YAML
 * file; to behave like a cluster it must refuse what the API server refuses and fill in
 * what the API server fills in. Both come from the one CRD file in crds/: its OpenAPI schema
 * (checked with ajv, defaults applied, unknown fields refused as `kubectl apply` does) and
 * its `x-kubernetes-validations` CEL rules (evaluated with cel-js, with the parts of the
 * Kubernetes CEL library the rules use registered here).
 */
import { readFileSync } from 'node:fs';
import type { Environment } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { HikyakuError } from '../errors.ts';
import { ajvFormatsLibrary, celLibrary, yamlLibrary } from './file-libraries.ts';
import { kubectlYamlProblems } from './kubectl-yaml.ts';
import {
  RELAYPOOL_GROUP,
  RELAYPOOL_KIND,
  RELAYPOOL_PLURAL,
  RELAYPOOL_VERSION,
  type RelayPoolResource,
  type RelayPoolSpec,
} from './spec.ts';

export const RELAYPOOL_CRD_URL = new URL(
  '../../../../crds/relaypools.hikyaku.io.yaml',
  import.meta.url,
);

/** One rejected field, named the way the API server names it: `spec.ips[1].address`. */
export interface ValidationIssue {
  field: string;
  message: string;
}

export interface OpenApiSchema {
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  items?: OpenApiSchema;
  additionalProperties?: OpenApiSchema | boolean;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: CelRuleSpec[];
  [keyword: string]: unknown;
}

interface CelRuleSpec {
  rule: string;
  message?: string;
  fieldPath?: string;
}

export class InvalidPoolError extends HikyakuError {
  readonly fileName: string;
  readonly issues: readonly ValidationIssue[];

  constructor(fileName: string, issues: ValidationIssue[], options?: { cause?: unknown }) {
    const lines = issues.map((i) => `  ${i.field ? `${i.field}: ` : ''}${i.message}`);
    super(
      'HIKYAKU_INVALID_POOL',
      `${fileName}: not a valid RelayPool:\n${lines.join('\n')}`,
      options,
    );
    this.name = 'InvalidPoolError';
    this.fileName = fileName;
    this.issues = issues;
  }
}

/** The CRD file itself is unusable: a packaging or development error, never a user's. */
export class PoolSchemaError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_POOL_SCHEMA', message, options);
    this.name = 'PoolSchemaError';
  }
}

/** The openAPIV3Schema of RelayPool's `spec`, as written in the CRD. */
export function relayPoolSchema(): Readonly<OpenApiSchema> {
  return poolValidator().schema;
}

/**
 * Every reason the API server would refuse this spec (after applying the schema's
 * defaults to a copy; `spec` itself is left untouched). Empty when the spec is valid.
 */
export function validateRelayPoolSpec(spec: unknown): ValidationIssue[] {
  return poolValidator().admit(spec).issues;
}

/** Reads one RelayPool document; throws InvalidPoolError naming every bad field. */
export function parseRelayPoolYaml(text: string, fileName: string): RelayPoolResource {
  const { LineCounter, parseAllDocuments } = yamlLibrary();
  const lineCounter = new LineCounter();
  const docs = [...parseAllDocuments(text, { lineCounter })];
  const syntax = docs.flatMap((d) => d.errors);
  if (syntax.length > 0) {
    const issues = syntax.map((e) => ({ field: '', message: e.message.split('\n')[0] ?? '' }));
    throw new InvalidPoolError(fileName, issues, { cause: syntax[0] });
  }
  const filled = docs.filter((d) => d.contents !== null);
  if (filled.length !== 1) {
    const message = `expected one YAML document, found ${filled.length}`;
    throw new InvalidPoolError(fileName, [{ field: '', message }]);
  }
  // What kubectl would read otherwise or refuse is refused here too, so a file that loads
  // locally can be applied to a cluster and means the same there.
  const differences = kubectlYamlProblems(filled[0]!, lineCounter);
  if (differences.length > 0) {
    const issues = differences.map((d) => ({ field: '', message: `line ${d.line}: ${d.message}` }));
    throw new InvalidPoolError(fileName, issues);
  }
  let doc: unknown;
  try {
    doc = filled[0]!.toJS();
  } catch (err) {
    // Aliases that expand past the yaml library's limit (a "billion laughs" file).
    throw new InvalidPoolError(fileName, [{ field: '', message: (err as Error).message }], {
      cause: err,
    });
  }
  const { resource, issues } = admitResource(doc);
  if (issues.length > 0 || !resource) throw new InvalidPoolError(fileName, issues);
  return resource;
}

const API_VERSION = `${RELAYPOOL_GROUP}/${RELAYPOOL_VERSION}`;
const ROOT_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function admitResource(doc: unknown): { resource?: RelayPoolResource; issues: ValidationIssue[] } {
  if (!isRecord(doc)) return { issues: [{ field: '', message: 'a RelayPool must be a mapping' }] };
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(doc)) {
    if (!ROOT_FIELDS.has(key)) issues.push({ field: key, message: 'unknown field' });
  }
  if (doc.apiVersion !== API_VERSION) {
    issues.push(unsupported('apiVersion', doc.apiVersion, [API_VERSION]));
  }
  if (doc.kind !== RELAYPOOL_KIND) issues.push(unsupported('kind', doc.kind, [RELAYPOOL_KIND]));
  const metadata = isRecord(doc.metadata) ? doc.metadata : {};
  const { name, namespace } = metadata;
  const nameLimit = poolValidator().nameMaxLength;
  if (typeof name !== 'string' || name === '') {
    issues.push({ field: 'metadata.name', message: 'Required value' });
  } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    issues.push({ field: 'metadata.name', message: `Invalid value: ${show(name)}: ${DNS_HINT}` });
  } else if (name.length > nameLimit) {
    issues.push({
      field: 'metadata.name',
      message: `Too long: may not be more than ${nameLimit} bytes`,
    });
  }
  if (namespace !== undefined && (typeof namespace !== 'string' || !isDnsLabel(namespace))) {
    issues.push({
      field: 'metadata.namespace',
      message: `Invalid value: ${show(namespace)}: ${DNS_HINT}`,
    });
  }
  if (doc.spec === undefined || doc.spec === null) {
    issues.push({ field: 'spec', message: 'Required value' });
    return { issues };
  }
  const admitted = poolValidator().admit(doc.spec);
  issues.push(...admitted.issues);
  if (issues.length > 0) return { issues };
  // status is the operator's to write; the API server drops it from a created object too.
  const resource = {
    apiVersion: API_VERSION,
    kind: RELAYPOOL_KIND,
    metadata: { ...metadata, name: name as string },
    spec: admitted.spec as RelayPoolSpec,
  };
  return { resource, issues };
}

const DNS_HINT = 'must consist of lower case alphanumeric characters, "-" or "."';

function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

function unsupported(field: string, value: unknown, allowed: string[]): ValidationIssue {
  const supported = allowed.map((a) => JSON.stringify(a)).join(', ');
  return { field, message: `Unsupported value: ${show(value)}: supported values: ${supported}` };
}

// ---------------------------------------------------------------------------------------
// Compiling the CRD

interface PoolValidator {
  schema: OpenApiSchema;
  /** The CRD's `metadata.name` maxLength (sender pod names derive from it). */
  nameMaxLength: number;
  admit(spec: unknown): { spec: unknown; issues: ValidationIssue[] };
}

interface CompiledRule {
  spec: CelRuleSpec;
  fieldPath: string[];
  run: (context: Record<string, unknown>) => unknown;
}

// Compiled once, on first use: the file cannot change while the process runs, and ajv's
// code generation plus CEL parsing are too slow to repeat for every pool read.
let compiled: PoolValidator | undefined;

function poolValidator(): PoolValidator {
  if (!compiled) {
    const { spec, nameMaxLength } = loadCrdSchemas(RELAYPOOL_CRD_URL);
    compiled = { ...compilePoolValidator(spec), nameMaxLength };
  }
  return compiled;
}

/** The spec schema and the name limit of the served version, as the API server reads them. */
function loadCrdSchemas(url: URL): { spec: OpenApiSchema; nameMaxLength: number } {
  let crd: unknown;
  try {
    crd = yamlLibrary().parseAllDocuments(readFileSync(url, 'utf8'))[0]?.toJS();
  } catch (err) {
    throw new PoolSchemaError(`cannot read ${url.pathname}`, { cause: err });
  }
  const spec = isRecord(crd) && isRecord(crd.spec) ? crd.spec : {};
  const names = isRecord(spec.names) ? spec.names : {};
  const versions = Array.isArray(spec.versions) ? spec.versions : [];
  const version: unknown = versions.find((v) => isRecord(v) && v.name === RELAYPOOL_VERSION);
  const root = isRecord(version) && isRecord(version.schema) ? version.schema.openAPIV3Schema : {};
  const specSchema = isRecord(root) && isRecord(root.properties) ? root.properties.spec : undefined;
  if (names.plural !== RELAYPOOL_PLURAL || !isRecord(specSchema)) {
    throw new PoolSchemaError(`${url.pathname} has no ${RELAYPOOL_VERSION} RelayPool spec schema`);
  }
  const metadata = isRecord(root) && isRecord(root.properties) ? root.properties.metadata : {};
  const nameSchema =
    isRecord(metadata) && isRecord(metadata.properties) ? metadata.properties.name : {};
  const maxLength = isRecord(nameSchema) ? nameSchema.maxLength : undefined;
  return {
    spec: deepFreeze(specSchema as OpenApiSchema),
    nameMaxLength: typeof maxLength === 'number' ? maxLength : 253,
  };
}

function compilePoolValidator(schema: OpenApiSchema): Omit<PoolValidator, 'nameMaxLength'> {
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true, logger: false });
  ajvFormatsLibrary().default(ajv);
  ajv.addVocabulary([
    'x-kubernetes-validations',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
    'x-kubernetes-int-or-string',
    'x-kubernetes-embedded-resource',
  ]);
  let check: ValidateFunction;
  try {
    check = ajv.compile(forAjv(schema));
  } catch (err) {
    throw new PoolSchemaError('the RelayPool schema does not compile', { cause: err });
  }
  const rules = new Map<OpenApiSchema, CompiledRule[]>();
  compileRules(kubernetesCelEnvironment(), schema, rules);
  return {
    schema,
    admit(raw) {
      const spec = dropNulls(schema, structuredClone(raw));
      const issues = schemaIssues(schema, check, spec);
      // The API server skips CEL when the object does not have the shape the rules assume.
      if (issues.some((i) => i.blocking)) {
        // No field, as in the API server's answer: the note is about the whole object.
        issues.push({ field: '', message: NOT_CHECKED, blocking: true });
      } else {
        runRules(schema, rules, spec, ['spec'], issues);
      }
      return { spec, issues: issues.map(({ field, message }) => ({ field, message })) };
    },
  };
}

const NOT_CHECKED =
  'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/**
 * A copy of the schema that refuses unknown fields, as kubectl's strict field validation
 * does: objects that list their properties get `additionalProperties: false`.
 */
function forAjv(schema: OpenApiSchema): OpenApiSchema {
  const out: OpenApiSchema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, forAjv(v)]),
    );
    if (
      !schema['x-kubernetes-preserve-unknown-fields'] &&
      schema.additionalProperties === undefined
    ) {
      out.additionalProperties = false;
    }
  }
  if (schema.items) out.items = forAjv(schema.items);
  if (isRecord(schema.additionalProperties)) {
    out.additionalProperties = forAjv(schema.additionalProperties as OpenApiSchema);
  }
  return out;
}

function compileRules(
  env: Environment,
  schema: OpenApiSchema,
  out: Map<OpenApiSchema, CompiledRule[]>,
) {
  const specs = schema['x-kubernetes-validations'] ?? [];
  if (specs.length > 0) {
    out.set(
      schema,
      specs.map((spec) => {
        try {
          if (typeof spec.rule !== 'string') throw new TypeError('a rule must be a string');
          const program = env.parse(spec.rule);
          const typed = program.check();
          if (!typed.valid) throw typed.error;
          return { spec, fieldPath: parseFieldPath(spec.fieldPath ?? ''), run: program };
        } catch (err) {
          throw new PoolSchemaError(`CEL rule "${spec.rule}" does not compile`, { cause: err });
        }
      }),
    );
  }
  for (const child of Object.values(schema.properties ?? {})) compileRules(env, child, out);
  if (schema.items) compileRules(env, schema.items, out);
}

/** `.warmup` or `.a['b']` → ['warmup'], ['a', 'b']. */
function parseFieldPath(path: string): string[] {
  return [...path.matchAll(/\.([^.[]+)|\['([^']*)'\]/g)].map((m) => m[1] ?? m[2] ?? '');
}

// ---------------------------------------------------------------------------------------
// Validating

type Segment = string | number;
type Issue = ValidationIssue & { blocking: boolean };

/** Errors of these kinds make the API server skip the CEL rules (see hasBlockingErr). */
const BLOCKING = new Set(['type', 'required', 'enum', 'maxLength', 'maxItems', 'maxProperties']);

function schemaIssues(schema: OpenApiSchema, check: ValidateFunction, spec: unknown): Issue[] {
  if (check(spec)) return [];
  return (check.errors ?? []).map((e) => toIssue(schema, spec, e));
}

function toIssue(schema: OpenApiSchema, spec: unknown, e: ErrorObject): Issue {
  const path = ['spec' as Segment, ...pointerToPath(schema, e.instancePath)];
  const value = valueAt(spec, path.slice(1));
  const p = e.params as Record<string, unknown>;
  const blocking = BLOCKING.has(e.keyword);
  const invalid = (what: string): Issue => ({
    field: formatPath(path),
    message: `Invalid value: ${show(value)}: ${what}`,
    blocking,
  });
  switch (e.keyword) {
    case 'required':
      return {
        field: formatPath([...path, String(p.missingProperty)]),
        message: 'Required value',
        blocking,
      };
    case 'additionalProperties':
      // kubectl's strict field validation fails the request before the schema is checked.
      return {
        field: formatPath([...path, String(p.additionalProperty)]),
        message: 'unknown field',
        blocking: true,
      };
    case 'enum':
      return unsupportedIssue(path, value, p.allowedValues as unknown[]);
    case 'type':
      return invalid(`must be of type ${String(p.type)}`);
    case 'format':
      return invalid(`must be a valid ${String(p.format)}`);
    case 'pattern':
      return invalid(`should match '${String(p.pattern)}'`);
    case 'minimum':
      return invalid(`should be greater than or equal to ${String(p.limit)}`);
    case 'maximum':
      return invalid(`should be less than or equal to ${String(p.limit)}`);
    case 'minItems':
      return invalid(`should have at least ${String(p.limit)} items`);
    case 'minLength':
      return invalid(`should be at least ${String(p.limit)} chars long`);
    case 'minProperties':
      return invalid(`should have at least ${String(p.limit)} properties`);
    case 'maxItems':
      return {
        field: formatPath(path),
        message: `Too many: must have at most ${String(p.limit)} items`,
        blocking,
      };
    case 'maxLength':
      return {
        field: formatPath(path),
        message: `Too long: may not be more than ${String(p.limit)} bytes`,
        blocking,
      };
    default:
      return invalid(e.message ?? e.keyword);
  }
}

function unsupportedIssue(path: Segment[], value: unknown, allowed: unknown[]): Issue {
  const supported = allowed.map((a) => JSON.stringify(a)).join(', ');
  return {
    field: formatPath(path),
    message: `Unsupported value: ${show(value)}: supported values: ${supported}`,
    blocking: true,
  };
}

function runRules(
  schema: OpenApiSchema,
  rules: Map<OpenApiSchema, CompiledRule[]>,
  value: unknown,
  path: Segment[],
  issues: Issue[],
): void {
  if (value === undefined || value === null) return;
  for (const rule of rules.get(schema) ?? []) {
    const failure = ruleFailure(rule, toCel(schema, value));
    if (failure === undefined) continue;
    const kind = Array.isArray(value) ? 'array' : (schema.type ?? typeof value);
    issues.push({
      field: formatPath([...path, ...rule.fieldPath]),
      message: `Invalid value: "${kind}": ${failure}`,
      blocking: false,
    });
  }
  if (Array.isArray(value) && schema.items) {
    const items = schema.items;
    value.forEach((item, i) => {
      runRules(items, rules, item, [...path, i], issues);
    });
  } else if (isRecord(value)) {
    for (const [key, child] of Object.entries(value)) {
      const next = schema.properties?.[key];
      if (next) runRules(next, rules, child, [...path, key], issues);
    }
  }
}

/** Why the rule rejects `self`, or undefined when it passes. */
function ruleFailure(rule: CompiledRule, self: unknown): string | undefined {
  let result: unknown;
  try {
    result = rule.run({ self });
  } catch (err) {
    return `rule "${rule.spec.rule}" could not be evaluated: ${(err as Error).message.split('\n')[0]}`;
  }
  if (result === true) return undefined;
  return rule.spec.message ?? `failed rule: ${rule.spec.rule}`;
}

/** JSON → CEL values: what the schema calls an integer is a CEL int, a BigInt in cel-js. */
function toCel(schema: OpenApiSchema | undefined, value: unknown): unknown {
  if (typeof value === 'number') {
    const integral = schema ? schema.type === 'integer' : Number.isInteger(value);
    return integral && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, toCel(schema?.properties?.[k], v)]),
    );
  }
  return value;
}

/** The API server prunes nulls from fields that are not nullable, before defaulting. */
function dropNulls(schema: OpenApiSchema | undefined, value: unknown): unknown {
  if (!schema) return value;
  if (Array.isArray(value)) return value.map((v) => dropNulls(schema.items, v));
  if (!isRecord(value)) return value;
  for (const [key, child] of Object.entries(value)) {
    const prop = schema.properties?.[key];
    if (child === null && prop && !prop.nullable) delete value[key];
    else value[key] = dropNulls(prop, child);
  }
  return value;
}

function pointerToPath(schema: OpenApiSchema, pointer: string): Segment[] {
  if (pointer === '') return [];
  let node: OpenApiSchema | undefined = schema;
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node?.type === 'array' && /^\d+$/.test(token)) {
        node = node.items;
        return Number(token);
      }
      node = node?.properties?.[token];
      return token;
    });
}

function valueAt(root: unknown, path: Segment[]): unknown {
  let node = root;
  for (const seg of path) {
    if (Array.isArray(node) && typeof seg === 'number') node = node[seg];
    else if (isRecord(node) && typeof seg === 'string') node = node[seg];
    else return undefined;
  }
  return node;
}

function formatPath(path: Segment[]): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg),
    '',
  );
}

/** A value as field errors print it: scalars as JSON, containers by type. */
function show(value: unknown): string {
  if (Array.isArray(value)) return '"array"';
  if (isRecord(value)) return '"object"';
  return value === undefined ? '""' : JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// The Kubernetes CEL library, as far as the RelayPool rules use it. Addresses are parsed
// the way Go's net/netip does (no IPv4 octets with leading zeros, at most one "::"), less
// what Kubernetes refuses on top (zones, IPv4-mapped IPv6), so that a rule accepts here
// exactly what it accepts in the API server.

class CelCidr {
  constructor(
    readonly bytes: readonly number[],
    readonly prefixLength: number,
  ) {}
}

/** Stands for the `ip` namespace of `ip.isCanonical(...)`, a name cel-js cannot declare. */
class CelIpNamespace {}

function kubernetesCelEnvironment(): Environment {
  const { Environment } = celLibrary();
  return new Environment({ unlistedVariablesAreDyn: true })
    .registerType('net.CIDR', CelCidr)
    .registerType('kubernetes.IPNamespace', CelIpNamespace)
    .registerConstant('ip', 'kubernetes.IPNamespace', new CelIpNamespace())
    .registerFunction('isIP(string): bool', (s: string) => parseIp(s) !== undefined)
    .registerFunction(
      'kubernetes.IPNamespace.isCanonical(string): bool',
      (_ns: CelIpNamespace, s: string) => formatIp(mustParse(parseIp, s)) === s,
    )
    .registerFunction('isCIDR(string): bool', (s: string) => parseCidr(s) !== undefined)
    .registerFunction('cidr(string): net.CIDR', (s: string) => mustParse(parseCidr, s))
    .registerFunction('net.CIDR.prefixLength(): int', (c: CelCidr) => BigInt(c.prefixLength))
    .registerFunction('list.isSorted(): bool', (list: unknown[]) =>
      list.every((v, i) => i === 0 || (list[i - 1] as number) <= (v as number)),
    );
}

function mustParse<T>(parse: (s: string) => T | undefined, s: string): T {
  const parsed = parse(s);
  if (parsed === undefined) throw new Error(`${JSON.stringify(s)} is not a valid address`);
  return parsed;
}

function parseIp(s: string): number[] | undefined {
  const bytes = s.includes(':') ? parseIpv6(s) : parseIpv4(s);
  const v4Mapped =
    bytes?.length === 16 &&
    bytes.slice(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return v4Mapped ? undefined : bytes;
}

function parseIpv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (
    parts.length !== 4 ||
    !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) < 256)
  ) {
    return undefined;
  }
  return parts.map(Number);
}

function parseIpv6(s: string): number[] | undefined {
  const bytes: number[] = [];
  let gap = -1; // where "::" stands, in bytes
  let rest = s;
  if (rest.startsWith('::')) {
    gap = 0;
    rest = rest.slice(2);
  }
  while (rest !== '' && bytes.length < 16) {
    const group = /^[0-9a-fA-F]{1,4}/.exec(rest)?.[0];
    if (group === undefined) return undefined;
    if (rest[group.length] === '.') {
      // An embedded IPv4 address takes the last four bytes.
      const v4 = parseIpv4(rest);
      if (!v4 || bytes.length > 12 || (gap < 0 && bytes.length !== 12)) return undefined;
      bytes.push(...v4);
      rest = '';
      break;
    }
    const n = Number.parseInt(group, 16);
    bytes.push(n >> 8, n & 0xff);
    rest = rest.slice(group.length);
    if (rest === '') break;
    if (rest === ':' || !rest.startsWith(':')) return undefined;
    rest = rest.slice(1);
    if (rest.startsWith(':')) {
      if (gap >= 0) return undefined;
      gap = bytes.length;
      rest = rest.slice(1);
    }
  }
  if (rest !== '') return undefined;
  if (bytes.length === 16) return gap < 0 ? bytes : undefined;
  if (gap < 0) return undefined;
  bytes.splice(gap, 0, ...new Array<number>(16 - bytes.length).fill(0));
  return bytes;
}

/** RFC 5952 text, as Go prints it: lower case, the first longest run of 2+ zero groups as "::". */
function formatIp(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0),
  );
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best.start < 0) return hex(groups);
  return `${hex(groups.slice(0, best.start))}::${hex(groups.slice(best.start + best.length))}`;
}

function parseCidr(s: string): CelCidr | undefined {
  const slash = s.lastIndexOf('/');
  const bytes = slash < 0 ? undefined : parseIp(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (!bytes || !/^(0|[1-9][0-9]{0,2})$/.test(bits) || Number(bits) > bytes.length * 8) {
    return undefined;
  }
  return new CelCidr(bytes, Number(bits));
}
