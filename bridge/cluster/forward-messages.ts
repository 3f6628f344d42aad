// A follower's hand-over of MQTT publishes to the leader (docs/replication.md, "Followers that
// take publishes"): one partition's encoded batch, appended by the leader through its normal path
// and answered once its commit covers them. Carried like the other replication
// messages (messages.ts), version 0; the key is ours, beside the witness's header fetch (1000).
import { Reader, Writer } from './messages.js';

export const API_FORWARD = 1001;

/** The leader appended the records and its commit covers them. */
export const FORWARD_STORED = 0;
/** The answering node does not lead the request's epoch; `leaderId` says who does, if known (messages.ts NOT_LEADER). */
export const FORWARD_NOT_LEADER = 6;
/** The leader could not append them (its log refused: full disk, no such topic, ...); `message` says why. */
export const FORWARD_APPEND_FAILED = -1;

// Forward: replica_id string, epoch int32, topic string, partition int32, create_partitions int32, batch bytes
//   (batch: one Kafka RecordBatch v2 as record-batch.ts encodes it, offsets from 0, which the leader
//   stores as sent (Log.appendBatch: it patches the base offset); empty: no records.
//   create_partitions > 0: the topic is created with that many partitions when the leader lacks it,
//   as the follower's mapping would have created it)
export interface ForwardRequest {
  replicaId: string;
  epoch: number;
  topic: string;
  partition: number;
  createPartitions: number;
  /** The encoded batch; empty: none. */
  batch: Buffer;
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

export function encodeForward(w: Writer, f: ForwardRequest): Writer {
  return w.string(f.replicaId, false).int32(f.epoch).string(f.topic, false).int32(f.partition).int32(f.createPartitions).int32(f.batch.length).bytes(f.batch);
}

export function decodeForward(r: Reader): ForwardRequest {
  const replicaId = r.string(false);
  const epoch = r.int32();
  const topic = r.string(false);
  const partition = r.int32();
  const createPartitions = r.int32();
  // A copy: the request's buffer is the connection's, and the batch goes to the log's writer thread.
  const batch = Buffer.from(r.nullableBytes(false) ?? Buffer.alloc(0));
  return { replicaId, epoch, topic, partition, createPartitions, batch };
}

export function encodeForwardResponse(w: Writer, f: ForwardResponse): Writer {
  return w.int16(f.error).int32(f.epoch).string(f.leaderId, false).int64(f.baseOffset).string(f.message, false);
}

export function decodeForwardResponse(r: Reader): ForwardResponse {
  return { error: r.int16(), epoch: r.int32(), leaderId: r.nullableString(false), baseOffset: r.int64(), message: r.nullableString(false) };
}
