// Where a batch goes and how its cursor is made durable. The two delivery modes differ only here.
import type { UpstreamMessage } from './upstream-record.js';

export type { UpstreamMessage } from './upstream-record.js';

export interface CursorAdvance {
  topic: string;
  partition: number;
  /** The next offset to forward once this delivery is durable. */
  nextOffset: number;
}

export interface Delivery {
  messages: UpstreamMessage[];
  cursors: CursorAdvance[];
  /** Estimated upstream bytes (for the counters). */
  bytes: number;
}

export interface UpstreamSink {
  /**
   * Connects and returns the durable cursors: `topic/partition` -> next offset. `progress` is told
   * while a long read moves on or waits on purpose (null: done), so a watchdog can tell slow from stuck.
   */
  open(progress?: (note: string | null) => void): Promise<Map<string, number>>;
  /** Returns once the messages and the cursors are durable (in the mode's sense). */
  deliver(delivery: Delivery): Promise<void>;
  /** Drops the connection; what was not delivered is sent again from the cursors. Idempotent. */
  close(): Promise<void>;
}
