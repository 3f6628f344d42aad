// What a replay reads: the request (topic, partition, from/to bounds, key, named reader) and its
// resolution against the log into one offset range per partition. Shared by the CLI's
// --data-dir mode and the HTTP records route, so both refuse the same bad input the same way.
//
// Rules (docs/replay.md):
// - offsets are strict: a from/to offset outside [log start, log end] is an error naming the range;
//   with several partitions, offsets need --partition (an offset means nothing across partitions).
// - times are lenient: --from-time before the first record starts at the log start, --to-time
//   after the last ends at the log end; from-time after to-time is an error.
// - the end is exclusive and fixed when the replay starts: records appended meanwhile are not read.
// - a named reader with a stored position starts there (its from bound only applies to its first
//   run); a stored position that retention has since deleted is an OffsetOutOfRangeError.
import { checkName } from './reader-name.js';
import type { ReaderPositions } from './reader-store.js';
import { OffsetOutOfRangeError, UnknownTopicError, UsageError } from '../../broker/errors.js';
import type { Log } from '../../broker/log/log.js';
import { parseTime } from './time.js';

export type Bound = { offset: number } | { time: number };

export interface ReplayRequest {
  topic: string;
  partition: number | null;
  from: Bound | null;
  to: Bound | null;
  /** Only records whose key is these UTF-8 bytes. */
  key: string | null;
  /** A named reader: start from its stored position. */
  reader: string | null;
}

export interface PartitionRange {
  partition: number;
  /** First offset to read. */
  from: number;
  /** Offset to stop before. */
  to: number;
}

/** One offset range per partition, in partition order; throws naming the valid range. */
export function resolveRanges(log: Log, request: ReplayRequest, readers: ReaderPositions | null): PartitionRange[] {
  const info = log.topics().find((t) => t.name === request.topic);
  if (info === undefined) throw new UnknownTopicError(request.topic, log.topics().map((t) => t.name));
  const count = info.partitions.length;
  if (request.partition !== null) log.partition(request.topic, request.partition); // UnknownPartitionError
  const partitions = request.partition !== null ? [request.partition] : Array.from({ length: count }, (_, p) => p);
  const usesOffsets = (request.from !== null && 'offset' in request.from) || (request.to !== null && 'offset' in request.to);
  if (usesOffsets && partitions.length > 1) {
    throw new UsageError(`topic '${request.topic}' has ${count} partitions: an offset bound needs a partition (--partition / partition=)`);
  }
  if (request.from !== null && request.to !== null && 'time' in request.from && 'time' in request.to && request.from.time > request.to.time) {
    throw new UsageError(`the from time is after the to time`);
  }
  if (request.reader !== null) checkName(request.reader);
  return partitions.map((partition) => {
    const p = log.partition(request.topic, partition);
    const start = p.logStartOffset;
    // A replay reads committed records: it ends at the high watermark (the log end on a single node).
    const end = p.highWatermark;
    const stored = request.reader !== null && readers !== null ? readers.get(request.reader, request.topic, partition) : null;
    let from: number;
    if (stored !== null) {
      if (stored < start || stored > end) throw new OffsetOutOfRangeError(request.topic, partition, stored, start, end);
      from = stored;
    } else {
      from = resolveBound(log, request.topic, partition, request.from, start, start, end);
    }
    const to = resolveBound(log, request.topic, partition, request.to, end, start, end);
    if (to < from) {
      if (request.to !== null && 'offset' in request.to) {
        throw new UsageError(`the to offset ${to} is before the from offset ${from} in ${request.topic}-${partition}`);
      }
      return { partition, from, to: from };
    }
    return { partition, from, to };
  });
}

function resolveBound(log: Log, topic: string, partition: number, bound: Bound | null, fallback: number, start: number, end: number): number {
  if (bound === null) return fallback;
  if ('offset' in bound) {
    if (!Number.isSafeInteger(bound.offset) || bound.offset < start || bound.offset > end) {
      throw new OffsetOutOfRangeError(topic, partition, bound.offset, start, end);
    }
    return bound.offset;
  }
  return log.offsetForTimestamp(topic, partition, bound.time) ?? end;
}

/** Total records in the ranges (before any key filter): what a progress bar counts towards. */
export function rangeTotal(ranges: readonly PartitionRange[]): number {
  return ranges.reduce((sum, r) => sum + (r.to - r.from), 0);
}

/** Raw textual parameters, as the CLI flags and the query string give them. */
export interface RequestParams {
  topic: string;
  partition?: string | undefined;
  fromOffset?: string | undefined;
  fromTime?: string | undefined;
  toOffset?: string | undefined;
  toTime?: string | undefined;
  key?: string | undefined;
  reader?: string | undefined;
}

/** Parses and cross-checks the parameters; `names` maps each to how the user wrote it. */
export function parseRequest(params: RequestParams, names: Record<keyof RequestParams, string>, now = Date.now()): ReplayRequest {
  if (params.fromOffset !== undefined && params.fromTime !== undefined) throw new UsageError(`give ${names.fromOffset} or ${names.fromTime}, not both`);
  if (params.toOffset !== undefined && params.toTime !== undefined) throw new UsageError(`give ${names.toOffset} or ${names.toTime}, not both`);
  const from = params.fromOffset !== undefined ? { offset: offsetParam(names.fromOffset, params.fromOffset) } : params.fromTime !== undefined ? { time: parseTime(params.fromTime, names.fromTime, now) } : null;
  const to = params.toOffset !== undefined ? { offset: offsetParam(names.toOffset, params.toOffset) } : params.toTime !== undefined ? { time: parseTime(params.toTime, names.toTime, now) } : null;
  if (params.reader !== undefined) checkName(params.reader);
  return {
    topic: params.topic,
    partition: params.partition === undefined ? null : offsetParam(names.partition, params.partition),
    from,
    to,
    key: params.key ?? null,
    reader: params.reader ?? null,
  };
}

function offsetParam(name: string, text: string): number {
  if (!/^\d{1,16}$/.test(text.trim())) throw new UsageError(`${name} must be a non-negative integer, got '${text}'`);
  return Number(text.trim());
}
