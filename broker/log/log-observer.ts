// What the log tells whoever watches it (the metrics of bridge/): plain numbers through optional
// callbacks, so that broker/ depends on no metrics library. Callbacks run on the main thread and
// must be cheap: appended() runs once per appended batch.
import type { RetentionResult } from './writer-protocol.js';

export interface AppendObservation {
  topic: string;
  partition: number;
  records: number;
  /** Encoded size of the batch. */
  bytes: number;
  /** From the append call to its resolution (durable under the configured durability). */
  seconds: number;
}

/** One transaction of the writer thread: every append it holds shares one commit (and fsync). */
export interface CommitObservation {
  batches: number;
  bytes: number;
}

/** A stored batch that failed its checks when read: the offsets it makes unreadable. */
export interface CorruptBatchObservation {
  topic: string;
  partition: number;
  fromOffset: number;
  toOffset: number;
  reason: string;
  /** Epoch ms when a read first met it. */
  firstSeen: number;
}

export interface LogObserver {
  appended?(append: AppendObservation): void;
  committed?(commit: CommitObservation): void;
  retentionRan?(result: RetentionResult): void;
  /** A read met a corrupt batch not met before (each batch is told once per process). */
  corruptBatch?(batch: CorruptBatchObservation): void;
}
