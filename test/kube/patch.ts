/**
 * The patch formats the API server accepts, applied to a plain JSON document.
 *
 * Strategic merge patch is served as a JSON merge patch: lists are replaced whole rather
 * than merged by key, and `$patch` directives are not understood. Server-side apply is a
 * merge of the applied configuration into the live object; fields a manager stops applying
 * are not removed (there is no managedFields bookkeeping).
 */
import { parse as parseYaml } from 'yaml';
import { badRequest, KubeStatusError, unsupportedMediaType } from './errors.ts';
import { clone, deepEqual, isRecord } from './object.ts';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export type PatchKind = keyof typeof PATCH_TYPES;

export function patchKindOf(contentType: string | undefined): PatchKind {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  for (const [kind, type] of Object.entries(PATCH_TYPES)) {
    if (type === media) return kind as PatchKind;
  }
  throw unsupportedMediaType(media, Object.values(PATCH_TYPES));
}

/** Parses a patch body; apply bodies are YAML (client-node sends JSON, which is YAML too). */
export function parsePatchBody(kind: PatchKind, raw: string): unknown {
  try {
    return kind === 'apply' ? parseYaml(raw) : JSON.parse(raw);
  } catch (err) {
    throw new KubeStatusError(
      400,
      'BadRequest',
      `error decoding patch: ${(err as Error).message}`,
      undefined,
      err,
    );
  }
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const out: Record<string, unknown> = isRecord(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function invalidPatch(message: string): KubeStatusError {
  return new KubeStatusError(422, 'Invalid', `the server rejected our request: ${message}`);
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw invalidPatch(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

/** Resolves the parent of the pointer's last token; throws if any step is missing. */
function parentOf(doc: unknown, tokens: string[], path: string): [Container, string] {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isRecord(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw invalidPatch(`path "${path}" does not exist`);
  }
  if (!Array.isArray(cur) && !isRecord(cur)) throw invalidPatch(`path "${path}" does not exist`);
  return [cur, tokens[tokens.length - 1]!];
}

function arrayIndex(arr: unknown[], token: string, path: string, forInsert: boolean): number {
  if (forInsert && token === '-') return arr.length;
  const i = Number(token);
  const max = forInsert ? arr.length : arr.length - 1;
  if (!/^\d+$/.test(token) || i > max) throw invalidPatch(`index out of range in "${path}"`);
  return i;
}

function getAt(doc: unknown, path: string): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return doc;
  const [parent, last] = parentOf(doc, tokens, path);
  const v = Array.isArray(parent) ? parent[arrayIndex(parent, last, path, false)] : parent[last];
  if (v === undefined) throw invalidPatch(`path "${path}" does not exist`);
  return v;
}

function removeAt(doc: unknown, path: string): unknown {
  const [parent, last] = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (!(last in parent)) throw invalidPatch(`unable to remove nonexistent key "${last}"`);
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const [parent, last] = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, path, !replace);
    parent.splice(i, replace ? 1 : 0, value);
  } else {
    if (replace && !(last in parent)) throw invalidPatch(`path "${path}" does not exist`);
    parent[last] = value;
  }
  return doc;
}

/** RFC 6902, all six operations; a failed `test` is a 422 as on a real server. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = clone(target);
  for (const raw of ops as JsonPatchOp[]) {
    if (!isRecord(raw) || typeof raw.path !== 'string') {
      throw badRequest('json patch operation needs "op" and "path"');
    }
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, raw.path, clone(raw.value), false);
        break;
      case 'replace':
        doc = addAt(doc, raw.path, clone(raw.value), true);
        break;
      case 'remove':
        removeAt(doc, raw.path);
        break;
      case 'move': {
        const v = removeAt(doc, raw.from ?? '');
        doc = addAt(doc, raw.path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, raw.path, clone(getAt(doc, raw.from ?? '')), false);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, raw.path), raw.value)) {
          throw invalidPatch(`testing value ${raw.path} failed`);
        }
        break;
      default:
        throw badRequest(`unexpected json patch operation "${String(raw.op)}"`);
    }
  }
  return doc;
}

/** Applies a parsed patch of the given kind to a copy of `target`. */
export function applyPatch(kind: PatchKind, target: unknown, patch: unknown): unknown {
  if (kind === 'json') return jsonPatch(target, patch);
  if (!isRecord(patch)) throw badRequest('patch body must be an object');
  return mergePatch(target, patch);
}
