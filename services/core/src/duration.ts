import { HikyakuError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "90s", "10m", "1h30m", "3d" into milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h|d))+$/.test(trimmed)) {
    throw new HikyakuError(
      'HIKYAKU_BAD_DURATION',
      `"${text}" is not a duration (e.g. 90s, 10m, 4h, 3d)`,
    );
  }
  let total = 0;
  for (const part of trimmed.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(part[1]) * (UNIT_MS[part[2] as string] as number);
  }
  return total;
}
