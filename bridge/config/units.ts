// Human units in config files: "7d", "90s", "500ms" for durations; "1GiB", "500MB" for sizes.
// A bare number is milliseconds or bytes.

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_BYTES: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** Milliseconds for "7d" / "1.5h" / 500, or null when the text is not a duration. */
export function parseDuration(value: string | number): number | null {
  return parseWithUnits(value, DURATION_MS);
}

/** Bytes for "1GiB" / "500 MB" / 1024, or null when the text is not a size. */
export function parseSize(value: string | number): number | null {
  return parseWithUnits(value, SIZE_BYTES);
}

function parseWithUnits(value: string | number, units: Record<string, number>): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (match === null) return null;
  const factor = match[2] === '' ? 1 : units[match[2]!.toLowerCase()];
  return factor === undefined ? null : Math.round(Number(match[1]) * factor);
}
