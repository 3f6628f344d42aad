// Messages between the log (main thread) and its writer thread, which owns the only write
// connection. Requests carry an id; each gets exactly one reply, in request order.

import type { EntryBlock, PackedEntry } from './entry-block.js';

export type Durability = 'fsync' | 'interval' | 'write';

export interface WriterInit {
  databaseFile: string;
  dataDir: string;
  durability: Durability;
  fsyncIntervalMs: number;
  /** How long a group commit waits for more appends after the first one arrives (0: none). */
  commitDelayMs: number;
  /**
   * Post each group's new rows ('staged') before its COMMIT and fsync, so that a replication
   * leader can send them to followers while it syncs (Raft, section 10.2.1). A group that then
   * fails to commit fences its leader epoch: the writer takes no more appends of that epoch
   * ('stagedLost'), since followers may hold the lost rows at positions it would hand out again.
   */
  stageBeforeSync?: boolean;
}

/** A row a leader's group wrote, before its commit: the batch as stored, at its position. */
export type StagedEntry = Required<PackedEntry>;

/**
 * One batch to append. `batch` is encoded with baseOffset 0; the writer assigns the offsets and
 * reads the record count and newest timestamp from the batch's own header.
 */
export interface AppendRequest {
  op: 'append';
  id: number;
  partitionId: number;
  batch: Uint8Array;
  /** The leader epoch stamped into the batch header and the leader_epoch column. */
  leaderEpoch: number;
  /** Makes the append idempotent while the key is held: see idempotence_keys in schema.ts. */
  idempotenceKey?: IdempotenceKey;
  /**
   * A client's batch (Log.appendBatch), checked on the main thread: its producer fields are kept,
   * and an idempotent one (producerId >= 0) is checked against and recorded in the producer state.
   */
  client?: true;
}

/** Hands out the next producer id (InitProducerId), durably: never the same one twice. */
export interface AllocateProducerIdRequest {
  op: 'allocateProducerId';
  id: number;
}

/** Who is appending (e.g. an MQTT client id) and which of its messages (e.g. a packet id). */
export interface IdempotenceKey {
  producer: string;
  sequence: number;
}

/** Releases one key, or every key of a producer when `sequence` is null. */
export interface ReleaseKeysRequest {
  op: 'releaseKeys';
  id: number;
  producer: string;
  sequence: number | null;
}

export interface CreateTopicRequest {
  op: 'createTopic';
  id: number;
  topic: string;
  partitions: number;
}

export interface RetentionPolicy {
  partitionId: number;
  /** Delete batches whose newest record is older than this (epoch ms). */
  deleteBeforeTimestamp: number | null;
  /**
   * Delete oldest batches while the partition takes more than this many bytes of disk: its batch
   * bytes times the file's disk bytes per stored byte (see diskBytesPerStoredByte in batch-store.ts).
   */
  maxBytes: number | null;
}

export interface RetentionRequest {
  op: 'retention';
  id: number;
  policies: RetentionPolicy[];
}

/** The disk budget's pass: frees about `diskBytes`, oldest batches first, only below each floor. */
export interface ReclaimRequest {
  op: 'reclaim';
  id: number;
  diskBytes: number;
  /** Partition id -> the offset below which its batches may go (forwarded upstream). */
  floors: [number, number][];
}

export interface CloseRequest {
  op: 'close';
  id: number;
}

/** A follower's append: batches as the leader stored them (offsets and epochs kept). */
export interface AppendStoredRequest {
  op: 'appendStored';
  id: number;
  partitionId: number;
  batches: Uint8Array[];
}

/** Removes every batch at or above `offset` (a batch boundary) in one transaction. */
export interface TruncateRequest {
  op: 'truncate';
  id: number;
  partitionId: number;
  offset: number;
}

/** A follower's append of replication-log entries across partitions, each at the leader's position. */
export interface AppendEntriesRequest {
  op: 'appendEntries';
  id: number;
  /** The entries (entry-block.ts; their epochs are in the batches). */
  entries: EntryBlock;
  /** The leader's log start offset of the entries' partitions, as [partition id, offset] (BatchStore.appendEntries). */
  leaderLogStarts?: Array<[number, number]>;
}

/** Removes every replication-log entry after position `seq`. */
export interface TruncateEntriesRequest {
  op: 'truncateEntries';
  id: number;
  seq: number;
}

export type WriterRequest =
  | AppendRequest
  | AppendStoredRequest
  | AppendEntriesRequest
  | TruncateEntriesRequest
  | TruncateRequest
  | CreateTopicRequest
  | RetentionRequest
  | ReclaimRequest
  | ReleaseKeysRequest
  | AllocateProducerIdRequest
  | CloseRequest;

/** What the log knows of a partition; the writer reports it after every change. */
export interface PartitionState {
  id: number;
  topic: string;
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  bytes: number;
  /** The newest epoch in the leader-epoch cache; -1 when it is empty. */
  latestEpoch: number;
}

export interface RecoveryReport {
  partitionsChecked: number;
  batchesChecked: number;
  problems: string[];
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** True when the idempotence key was already held: nothing was written, the offsets are the first append's. */
  duplicate: boolean;
  state: PartitionState;
}

export interface RetentionResult {
  batchesDeleted: number;
  recordsDeleted: number;
  bytesDeleted: number;
  states: PartitionState[];
  /** Disk bytes the batches took per batch byte when the pass ran; null while the log holds too little to tell. */
  diskBytesPerStoredByte: number | null;
}

/** A disk budget pass: what it deleted, and how much of what it was asked to free it could not. */
export interface ReclaimResult extends RetentionResult {
  /** Disk bytes still to free after this pass and the free pages it found (0: enough went). */
  shortBytes: number;
}

export interface WireError {
  code: string;
  message: string;
  /** The typed error's own fields (topic, partition, offsets, epochs), to rebuild it on the main thread. */
  fields?: Record<string, string | number>;
}

export type WriterReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

export type WriterMessage =
  | { kind: 'ready'; states: PartitionState[]; recovery: RecoveryReport | null; notes: string[] }
  | { kind: 'failed'; error: WireError }
  | { kind: 'replies'; replies: WriterReply[]; commits: CommitSize[]; lastSeq: number }
  /** A group's rows, written and about to be committed (stageBeforeSync). */
  | { kind: 'staged'; entries: EntryBlock }
  /** A staged group failed to commit: its rows from `fromSeq` are lost, and appends of epochs up to `epoch` are refused from now on. */
  | { kind: 'stagedLost'; fromSeq: number; epoch: number };

/** The size of one group commit, reported with its replies (for the log's observer). */
export interface CommitSize {
  batches: number;
  bytes: number;
}
