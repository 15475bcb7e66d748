/**
 * Just enough PromQL reading to name the metrics an expression selects and the label
 * names its selectors match on. The chart's rules and dashboard are checked with it
 * against what the services export; it understands the PromQL those files use (function
 * calls, aggregations with by/without, binary operators with on/ignoring/group_*, range
 * and offset modifiers, Grafana's $variables inside strings and ranges).
 */

export interface Selector {
  metric: string;
  labels: string[];
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'atan2',
  'inf',
  'nan',
]);
/** Keywords followed by a parenthesised list of label names, not an expression. */
const LABEL_LIST = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export function selectors(expr: string): Selector[] {
  // Strings carry label values and Grafana variables, never metric names.
  const text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const found: Selector[] = [];
  let i = 0;
  const skipSpace = (at: number): number => {
    let j = at;
    while (j < text.length && /\s/.test(text[j] as string)) j++;
    return j;
  };
  const closing = (open: string, at: number): number => {
    const close = open === '(' ? ')' : open === '[' ? ']' : '}';
    let depth = 0;
    for (let j = at; j < text.length; j++) {
      if (text[j] === open) depth++;
      else if (text[j] === close && --depth === 0) return j;
    }
    throw new Error(`unbalanced ${open} in: ${expr}`);
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '[') {
      i = closing('[', i) + 1; // range or subquery: durations and $__rate_interval
      continue;
    }
    if (/[0-9.]/.test(ch)) {
      const m = /^[0-9.]+(e[+-]?[0-9]+)?[a-z]*/i.exec(text.slice(i));
      i += m ? m[0].length : 1;
      continue;
    }
    if (/[a-zA-Z_:]/.test(ch)) {
      const name = (/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(text.slice(i)) as RegExpExecArray)[0];
      let next = skipSpace(i + name.length);
      if (LABEL_LIST.has(name) && text[next] === '(') {
        i = closing('(', next) + 1;
        continue;
      }
      if (KEYWORDS.has(name) || text[next] === '(') {
        i = next;
        continue;
      }
      const labels: string[] = [];
      if (text[next] === '{') {
        const end = closing('{', next);
        for (const matcher of text.slice(next + 1, end).split(',')) {
          const label = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/.exec(matcher);
          if (label) labels.push(label[1] as string);
        }
        next = end + 1;
      }
      found.push({ metric: name, labels });
      i = next;
      continue;
    }
    i++;
  }
  return found;
}

/** Metric names an exposition offers for selection: histograms add _bucket, _sum, _count. */
export interface Exposition {
  /** Selectable series names, with the label names seen on each. */
  series: Map<string, Set<string>>;
}

export function parseExposition(
  text: string,
  into: Exposition = { series: new Map() },
): Exposition {
  const add = (name: string, labels: Iterable<string> = []) => {
    const set = into.series.get(name) ?? new Set<string>();
    for (const l of labels) set.add(l);
    into.series.set(name, set);
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) add(name + s);
      else if (kind === 'summary') for (const s of ['', '_sum', '_count']) add(name + s);
      else add(name);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!sample) continue;
    const labels = [...(sample[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map(
      (m) => m[1] as string,
    );
    add(sample[1] as string, labels);
  }
  return into;
}
