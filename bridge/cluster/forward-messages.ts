// A follower's hand-over of MQTT publishes to the leader (docs/replication.md, "Followers that
// take publishes"): the records one partition's batch holds, appended by the leader through its
// normal path and answered once its commit covers them. Carried like the other replication
// messages (messages.ts), version 0; the key is ours, beside the witness's header fetch (1000).
import type { RecordInput } from '../../broker/log/record-batch.js';
import { Reader, Writer } from './messages.js';

export const API_FORWARD = 1001;

/** The leader appended the records and its commit covers them. */
export const FORWARD_STORED = 0;
/** The answering node does not lead the request's epoch; `leaderId` says who does, if known (messages.ts NOT_LEADER). */
export const FORWARD_NOT_LEADER = 6;
/** The leader could not append them (its log refused: full disk, no such topic, ...); `message` says why. */
export const FORWARD_APPEND_FAILED = -1;

// Forward: replica_id string, epoch int32, topic string, partition int32, create_partitions int32,
//   [records: timestamp int64, key nullable bytes, value nullable bytes, [headers: name string, value nullable bytes]]
//   (create_partitions > 0: the topic is created with that many partitions when the leader lacks it,
//   as the follower's mapping would have created it; records may then be empty)
export interface ForwardRequest {
  replicaId: string;
  epoch: number;
  topic: string;
  partition: number;
  createPartitions: number;
  records: readonly RecordInput[];
}
// ForwardResponse: error int16, epoch int32, leader_id nullable string, base_offset int64, message nullable string
export interface ForwardResponse {
  error: number;
  epoch: number;
  leaderId: string | null;
  /** The offset of the first record (-1 without records or on an error). */
  baseOffset: number;
  message: string | null;
}

function nullableBytes(w: Writer, b: Buffer | null): void {
  if (b === null) w.int32(-1);
  else w.int32(b.length).bytes(b);
}

export function encodeForward(w: Writer, f: ForwardRequest): Writer {
  w.string(f.replicaId, false).int32(f.epoch).string(f.topic, false).int32(f.partition).int32(f.createPartitions);
  return w.array(f.records, false, (out, r) => {
    out.int64(r.timestamp);
    nullableBytes(out, r.key);
    nullableBytes(out, r.value);
    out.array(r.headers ?? [], false, (h, [name, value]) => {
      h.string(name, false);
      nullableBytes(h, value);
    });
  });
}

export function decodeForward(r: Reader): ForwardRequest {
  const replicaId = r.string(false);
  const epoch = r.int32();
  const topic = r.string(false);
  const partition = r.int32();
  const createPartitions = r.int32();
  const records = r.array(false, (rec) => ({
    timestamp: rec.int64(),
    key: copy(rec.nullableBytes(false)),
    value: copy(rec.nullableBytes(false)),
    headers: rec.array(false, (h) => [h.string(false), copy(h.nullableBytes(false))] as const),
  }));
  return { replicaId, epoch, topic, partition, createPartitions, records };
}

/** The request's buffer is the connection's: a record outlives it (the log's writer holds it). */
function copy(b: Buffer | null): Buffer | null {
  return b === null ? null : Buffer.from(b);
}

export function encodeForwardResponse(w: Writer, f: ForwardResponse): Writer {
  return w.int16(f.error).int32(f.epoch).string(f.leaderId, false).int64(f.baseOffset).string(f.message, false);
}

export function decodeForwardResponse(r: Reader): ForwardResponse {
  return { error: r.int16(), epoch: r.int32(), leaderId: r.nullableString(false), baseOffset: r.int64(), message: r.nullableString(false) };
}
