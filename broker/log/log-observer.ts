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

export interface LogObserver {
  appended?(append: AppendObservation): void;
  committed?(commit: CommitObservation): void;
  retentionRan?(result: RetentionResult): void;
}
