// Where a damaged SQLite page ends. A seek whose B-tree walk touches a damaged page fails with
// SQLITE_CORRUPT; keys on the far side of the page can still be reached. The seeks that fail form
// one run of offsets, so the first offset where a seek works again is found with steps that double
// (over the run) and then bisection (back to its edge): a few dozen seeks for any log.
import { isSqliteCorruption } from './sqlite-errors.js';

/** A seek: the first stored base offset at or after `offset`, undefined when there is none. */
export type Seek = (offset: number) => number | undefined;

/** A seek that met a damaged page. */
export const DAMAGED = Symbol('damaged');

export function trySeek(seek: Seek, offset: number): number | undefined | typeof DAMAGED {
  try {
    return seek(offset);
  } catch (err) {
    if (!isSqliteCorruption(err)) throw err;
    return DAMAGED;
  }
}

/**
 * The first stored base offset past the damage that makes a seek at `damaged` fail, or undefined
 * when no seek up to `limit` works (or nothing is stored past it).
 */
export function firstBaseAfterDamage(seek: Seek, damaged: number, limit: number): number | undefined {
  let bad = damaged;
  let good: number | undefined;
  let found: number | undefined;
  for (let step = 1; damaged + step <= limit; step *= 2) {
    const base = trySeek(seek, damaged + step);
    if (base !== DAMAGED) {
      good = damaged + step;
      found = base;
      break;
    }
    bad = damaged + step;
  }
  if (good === undefined) return undefined;
  let hi: number = good;
  while (hi - bad > 1) {
    const mid = bad + Math.floor((hi - bad) / 2);
    const base = trySeek(seek, mid);
    if (base === DAMAGED) bad = mid;
    else {
      hi = mid;
      found = base;
    }
  }
  return found;
}
