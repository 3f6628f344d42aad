// Times on the replay command line and in the records API: ISO 8601 ("2026-11-24T22:00:00Z",
// "2026-11-24" = midnight UTC), relative to now ("-1h", "-30m", "-2d", "-90s", "-500ms"), "now",
// or an epoch time with its unit ("1700000000s", "1700000000000ms"). A bare number is refused:
// seconds read as milliseconds would silently mean January 1970.
import { UsageError } from '../../broker/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
// Date and time, optional seconds and fraction, then Z or an offset; or a bare date.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const FORMS = `use ISO 8601 (2026-11-24T22:00:00Z, 2026-11-24), a relative time (-90s, -30m, -1h, -2d, -1w), 'now' or epoch time with a unit (1700000000s, 1700000000000ms)`;

/** Milliseconds since the epoch for `text`; `what` names the flag or parameter in errors. */
export function parseTime(text: string, what: string, now = Date.now()): number {
  const trimmed = text.trim();
  if (trimmed === 'now') return now;
  const relative = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(trimmed);
  if (relative !== null) return Math.round(now - Number(relative[1]) * UNIT_MS[relative[2]!]!);
  const epoch = /^(\d{1,16})(ms|s)$/.exec(trimmed);
  if (epoch !== null) return Number(epoch[1]) * UNIT_MS[epoch[2]!]!;
  if (/^\d+$/.test(trimmed)) throw new UsageError(`${what}: '${text}' has no unit; write ${trimmed}s for epoch seconds or ${trimmed}ms for epoch milliseconds`);
  const iso = ISO.exec(trimmed);
  if (iso !== null && isCalendarDate(Number(iso[1]), Number(iso[2]), Number(iso[3]))) {
    // A date and time without a zone is read as UTC, like a bare date: a gateway's clock zone is
    // rarely what an operator elsewhere means.
    const zoned = /T|\s/.test(trimmed) && !/(Z|[+-]\d{2}:?\d{2})$/.test(trimmed) ? `${trimmed.replace(' ', 'T')}Z` : trimmed.replace(' ', 'T');
    const ms = Date.parse(zoned);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError(`${what}: '${text}' is not a time; ${FORMS}`);
}

/** Whether the day exists (Date.parse rolls 2026-02-30 over into March). */
function isCalendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms);
}
