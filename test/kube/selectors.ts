/**
 * Label and field selectors with the grammar the API server accepts. A selector that does
 * not parse, or names a field the server cannot select on, is a 400 as on a real server,
 * so an operator relying on an unsupported field selector fails here first.
 */
import { badRequest } from './errors.ts';
import type { KubeObject } from './object.ts';

export type Selector = (obj: KubeObject) => boolean;

const MATCH_ALL: Selector = () => true;

/** Splits on commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]. */
function splitTerms(expr: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of expr) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim()) terms.push(current.trim());
  return terms;
}

function labelTerm(term: string): (labels: Record<string, string>) => boolean {
  let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string];
    const values = list.split(',').map((v) => v.trim());
    return op === 'in'
      ? (l) => key in l && values.includes(l[key]!)
      : (l) => !(key in l) || !values.includes(l[key]!);
  }
  m = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(term);
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  m = /^(!?)([^=!\s()]+)$/.exec(term);
  if (m) {
    const [, not, key] = m as unknown as [string, string, string];
    return not ? (l) => !(key in l) : (l) => key in l;
  }
  throw badRequest(`unable to parse requirement: found '${term}', invalid label selector`);
}

export function parseLabelSelector(expr: string | null | undefined): Selector {
  if (!expr) return MATCH_ALL;
  const terms = splitTerms(expr).map(labelTerm);
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return terms.every((t) => t(labels));
  };
}

/** Field paths selectable per resource beyond metadata.name and metadata.namespace. */
const EXTRA_FIELDS: Record<string, string[]> = {
  secrets: ['type'],
  pods: ['spec.nodeName', 'status.phase', 'spec.serviceAccountName'],
  events: [
    'involvedObject.kind',
    'involvedObject.name',
    'involvedObject.namespace',
    'involvedObject.uid',
    'reason',
    'type',
    'regarding.name',
    'regarding.kind',
    'regarding.namespace',
    'regarding.uid',
  ],
};

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export function parseFieldSelector(expr: string | null | undefined, plural: string): Selector {
  if (!expr) return MATCH_ALL;
  const allowed = ['metadata.name', 'metadata.namespace', ...(EXTRA_FIELDS[plural] ?? [])];
  const terms = splitTerms(expr).map((term) => {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector: '${term}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    return op === '!='
      ? (o: KubeObject) => fieldValue(o, field) !== value
      : (o: KubeObject) => fieldValue(o, field) === value;
  });
  return (obj) => terms.every((t) => t(obj));
}
