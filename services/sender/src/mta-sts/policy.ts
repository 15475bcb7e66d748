/**
 * The text formats of MTA-STS (RFC 8461): the `_mta-sts` TXT record that announces a policy
 * and its id (§3.1), the policy file served over HTTPS (§3.2), and the match of an MX host
 * against the policy's `mx` patterns (§4.1). Pure: no I/O, so every rule is tested on its own.
 */
import { HikyakuError } from '@hikyaku/core';
import { normaliseDomain } from '../routing/domain.ts';

export type MtaStsMode = 'enforce' | 'testing' | 'none';

export interface MtaStsPolicy {
  mode: MtaStsMode;
  /** Allowed MX host patterns, lower case, without a trailing dot; `*.` covers one label. */
  mx: string[];
  /** Seconds the policy may be cached and applied. */
  maxAge: number;
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (one year). */
export const MAX_AGE_LIMIT = 31_557_600;
const MODES: readonly MtaStsMode[] = ['enforce', 'testing', 'none'];

export class MtaStsPolicyError extends HikyakuError {
  constructor(message: string) {
    super('HIKYAKU_MTA_STS_INVALID_POLICY', message);
    this.name = 'MtaStsPolicyError';
  }
}

/**
 * The id of the policy a TXT answer announces, or undefined when it announces none.
 * Records not starting with `v=STSv1` belong to something else and are ignored; more than
 * one STSv1 record, or one without a valid id, counts as no record at all (§3.1).
 */
export function parseStsRecord(records: readonly string[]): string | undefined {
  const sts = records.filter((r) => /^v=STSv1\s*(;|$)/.test(r));
  if (sts.length !== 1) return undefined;
  let id: string | undefined;
  for (const field of (sts[0] as string).split(';').slice(1)) {
    const match = /^\s*([A-Za-z0-9_.-]+)=([\x21-\x3a\x3c\x3e-\x7e]*)\s*$/.exec(field);
    if (!match) {
      if (field.trim() === '') continue;
      return undefined;
    }
    // The first id counts; other fields are extensions a sender ignores.
    if (match[1] === 'id' && id === undefined) id = match[2];
  }
  return id !== undefined && /^[A-Za-z0-9]{1,32}$/.test(id) ? id : undefined;
}

/** The pattern in ASCII lower case, or undefined when it is not a host name or `*.` one. */
function normalisePattern(pattern: string): string | undefined {
  const wildcard = pattern.startsWith('*.');
  const name = normaliseDomain(wildcard ? pattern.slice(2) : pattern);
  const valid =
    name !== '' &&
    name.split('.').every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label));
  if (!valid) return undefined;
  return wildcard ? `*.${name}` : name;
}

/**
 * A policy file: `key: value` lines separated by CRLF or LF. `version` must be STSv1,
 * `mode` one of enforce, testing, none, `max_age` a number of seconds up to a year, and
 * `mx` (repeatable) is required unless the mode is none. A repeated field other than `mx`
 * keeps its first value; unknown fields are ignored, as §3.2 asks. Throws an
 * MtaStsPolicyError naming the first problem.
 */
export function parsePolicy(text: string): MtaStsPolicy {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MtaStsPolicyError(`malformed line "${line.slice(0, 80)}"`);
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!/^[A-Za-z0-9_]{1,32}$/.test(key)) {
      throw new MtaStsPolicyError(`malformed field name "${key.slice(0, 40)}"`);
    }
    if (key === 'mx') mx.push(value);
    else if (!fields.has(key)) fields.set(key, value);
  }
  const version = fields.get('version');
  if (version !== 'STSv1') {
    throw new MtaStsPolicyError(
      version === undefined ? 'no version field' : `unsupported version "${version}"`,
    );
  }
  const mode = fields.get('mode');
  if (mode === undefined) throw new MtaStsPolicyError('no mode field');
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new MtaStsPolicyError(`unknown mode "${mode}"`);
  }
  const maxAgeText = fields.get('max_age');
  if (maxAgeText === undefined) throw new MtaStsPolicyError('no max_age field');
  if (!/^\d{1,10}$/.test(maxAgeText) || Number(maxAgeText) > MAX_AGE_LIMIT) {
    throw new MtaStsPolicyError(
      `max_age must be 0 to ${MAX_AGE_LIMIT} seconds, got "${maxAgeText}"`,
    );
  }
  const patterns = mx.map((p) => {
    const pattern = normalisePattern(p);
    if (pattern === undefined) throw new MtaStsPolicyError(`malformed mx pattern "${p}"`);
    return pattern;
  });
  if (patterns.length === 0 && mode !== 'none') {
    throw new MtaStsPolicyError(`mode ${mode} without any mx pattern`);
  }
  return { mode: mode as MtaStsMode, mx: patterns, maxAge: Number(maxAgeText) };
}

/**
 * Whether an MX host name matches one of the patterns (as parsePolicy normalised them) (§4.1): equal names, or `*.rest`
 * where the host is exactly one label in front of `rest` ("*.example.com" matches
 * "mx.example.com", not "example.com" nor "a.b.example.com"). Case and a trailing dot do
 * not matter; internationalised names are compared in their ASCII form.
 */
export function mxMatches(host: string, patterns: readonly string[]): boolean {
  const name = normaliseDomain(host);
  if (name === '') return false;
  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === name;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
  });
}
