// ListOffsets (key 2), versions 1-7: the earliest offset, the latest, the first at or after a
// time, or (v7) the record with the largest timestamp (ListOffsetsRequest.json /
// ListOffsetsResponse.json). Flexible from v6. v0 (several offsets per partition) is not served.
//
//   ListOffsets Request => replica_id isolation_level [topics] TAG_BUFFER
//     replica_id => INT32
//     isolation_level => INT8              (v2+; 0 read uncommitted, 1 read committed)
//     topics => name [partitions] TAG_BUFFER
//       name => STRING
//       partitions => partition_index current_leader_epoch timestamp TAG_BUFFER
//         partition_index => INT32
//         current_leader_epoch => INT32    (v4+; -1: not known)
//         timestamp => INT64               (-1 latest, -2 earliest, -3 max timestamp (v7+), else a time in ms)
//
//   ListOffsets Response => throttle_time_ms [topics] TAG_BUFFER
//     throttle_time_ms => INT32            (v2+)
//     topics => name [partitions] TAG_BUFFER
//       partitions => partition_index error_code timestamp offset leader_epoch TAG_BUFFER
//         partition_index => INT32, error_code => INT16, timestamp => INT64, offset => INT64,
//         leader_epoch => INT32            (v4+)
//
// Both isolation levels end at the high watermark: the log holds no transactions, so the last
// stable offset is the high watermark. Offsets by time are committed offsets only.
import type { Log } from '../../../broker/log/log.js';
import { MalformedRequestError } from '../errors.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { errorCodeOf, leaderEpochError } from './partition-errors.js';

export const LATEST = -1;
export const EARLIEST = -2;
export const MAX_TIMESTAMP = -3;

interface PartitionAnswer {
  index: number;
  error: number;
  timestamp: number;
  offset: number;
  leaderEpoch: number;
}

export const listOffsets: ApiHandler = {
  key: 2,
  name: 'ListOffsets',
  minVersion: 1,
  maxVersion: 7,
  flexibleFrom: 6,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    request.int32(); // replica id: -1 for consumers
    if (version >= 2) {
      const isolation = request.int8();
      if (isolation !== 0 && isolation !== 1) throw new MalformedRequestError(`isolation level ${isolation}`);
    }
    const topics = request.array(flexible, (r) => {
      const name = r.string(flexible);
      const partitions = r.array(flexible, (r) => {
        const index = r.int32();
        const currentLeaderEpoch = version >= 4 ? r.int32() : -1;
        const timestamp = r.int64();
        if (flexible) r.taggedFields();
        return answer(context, version, name, index, currentLeaderEpoch, timestamp);
      });
      if (flexible) r.taggedFields();
      return { name, partitions };
    });
    if (flexible) request.taggedFields();

    const w = new Writer();
    if (version >= 2) w.int32(0);
    w.array(topics, flexible, (w, t) => {
      w.string(t.name, flexible);
      w.array(t.partitions, flexible, (w, p) => {
        w.int32(p.index).int16(p.error).int64(p.timestamp).int64(p.offset);
        if (version >= 4) w.int32(p.leaderEpoch);
        if (flexible) w.taggedFields();
      });
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};

function answer(context: RequestContext, version: number, topic: string, index: number, currentLeaderEpoch: number, timestamp: number): PartitionAnswer {
  const failed = (error: number): PartitionAnswer => ({ index, error, timestamp: -1, offset: -1, leaderEpoch: -1 });
  // Checked first, as Kafka does: a refused client learns nothing of the topic, not even whether it exists.
  if (!context.authorize('read', topic)) return failed(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const { log } = context;
  try {
    const partition = log.partition(topic, index);
    const fenced = leaderEpochError(log, topic, index, currentLeaderEpoch);
    if (fenced !== ErrorCode.NONE) return failed(fenced);
    let found: { offset: number; timestamp: number } | null;
    if (timestamp === EARLIEST) found = { offset: partition.logStartOffset, timestamp: -1 };
    else if (timestamp === LATEST) found = { offset: partition.highWatermark, timestamp: -1 };
    else if (timestamp === MAX_TIMESTAMP && version >= 7) found = maxTimestamp(log, topic, index);
    else if (timestamp < 0) return failed(ErrorCode.INVALID_REQUEST);
    else found = atOrAfter(log, topic, index, timestamp);
    if (found === null) return { index, error: ErrorCode.NONE, timestamp: -1, offset: -1, leaderEpoch: -1 };
    return { index, error: ErrorCode.NONE, ...found, leaderEpoch: epochAt(log, topic, index, found.offset) };
  } catch (err) {
    return failed(errorCodeOf(err, context, { api: 'ListOffsets', topic, partition: index }));
  }
}

/** The first committed record at or after `timestamp`, with its own timestamp. */
function atOrAfter(log: Log, topic: string, partition: number, timestamp: number): { offset: number; timestamp: number } | null {
  const offset = log.offsetForTimestamp(topic, partition, timestamp);
  if (offset === null) return null;
  const record = log.read(topic, partition, offset, { maxRecords: 1 }).records[0];
  return record === undefined ? null : { offset: record.offset, timestamp: record.timestamp };
}

/**
 * The first committed record with the largest timestamp (KIP-734). The log indexes "first record at
 * or after T"; the largest T that still finds one is the largest timestamp, found by bisection in
 * at most 53 lookups of one batch each.
 */
function maxTimestamp(log: Log, topic: string, partition: number): { offset: number; timestamp: number } | null {
  let best = atOrAfter(log, topic, partition, 0);
  if (best === null) return null;
  let lo = best.timestamp; // a record has at least this timestamp
  let hi = Number.MAX_SAFE_INTEGER; // none has more (an upper bound)
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    const hit = atOrAfter(log, topic, partition, mid);
    if (hit === null) hi = mid - 1;
    else {
      best = hit;
      lo = hit.timestamp;
    }
  }
  return best;
}

/** The leader epoch of the batch holding `offset` (or, at the log end, the latest epoch); -1 when the log holds none. */
export function epochAt(log: Log, topic: string, partition: number, offset: number): number {
  let epoch = -1;
  for (const start of log.epochStartOffsets(topic, partition)) {
    if (start.startOffset > offset) break;
    epoch = start.epoch;
  }
  return epoch;
}
