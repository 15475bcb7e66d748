/**
 * Merging a pool's `senders.template` into the operator's sender pod template. Objects
 * merge key by key; lists whose items all carry a `name` (containers, volumes, env,
 * ports, volumeMounts) merge item by item on that name, as a strategic merge patch does,
 * so `containers: [{name: sender, resources: ...}]` changes the sender container without
 * restating it; any other list (tolerations, args) replaces the base list. The caller
 * re-applies what must not be overridden (selector labels, the pool's environment).
 */

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNamedList(value: unknown): value is { name: string }[] {
  return (
    Array.isArray(value) && value.every((item) => isObject(item) && typeof item.name === 'string')
  );
}

function mergeNamed(base: { name: string }[], over: { name: string }[]): unknown[] {
  const out: unknown[] = base.map((item) => {
    const match = over.find((o) => o.name === item.name);
    return match ? mergeValue(item, match) : item;
  });
  for (const item of over) {
    if (!base.some((b) => b.name === item.name)) out.push(structuredClone(item));
  }
  return out;
}

function mergeValue(base: unknown, over: unknown): unknown {
  if (over === undefined) return structuredClone(base);
  if (isObject(base) && isObject(over)) {
    const out: Record<string, unknown> = structuredClone(base);
    for (const [key, value] of Object.entries(over)) out[key] = mergeValue(base[key], value);
    return out;
  }
  if (isNamedList(base) && isNamedList(over)) return mergeNamed(base, over);
  return structuredClone(over);
}

/** base with `overrides` merged in; neither argument is changed. */
export function mergeTemplate<T extends object>(
  base: T,
  overrides: Record<string, unknown> | undefined,
): T {
  if (!overrides) return structuredClone(base);
  return mergeValue(base, overrides) as T;
}
