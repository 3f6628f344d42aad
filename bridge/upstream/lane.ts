// One local partition being forwarded: where it is durable upstream, how far it has been read
// ahead of that, and what went wrong last.
import type { TributaryError } from '../../broker/errors.js';
import { partitionKey } from '../shared/partition-key.js';
import type { MessageBuilder } from './upstream-record.js';

export type LaneState = 'waiting' | 'forwarding' | 'caught-up' | 'error';

export class Lane {
  /** Set once the upstream topic is known (its partition count decides the mapping). */
  builder: MessageBuilder | null = null;
  /** The next offset durable upstream; null until the cursors were read. */
  committed: number | null = null;
  /** The next offset to read: at or ahead of `committed`. */
  readPosition = 0;
  lastError: TributaryError | null = null;
  /** A problem that needs an operator; the lane is not read until restart. */
  halted = false;
  recordsForwarded = 0;
  recordsLostToRetention = 0;
  /** Offsets below this were already counted as lost to retention (so that a rewind does not count them again). */
  lostCountedUpTo = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly upstreamTopic: string,
  ) {}

  get key(): string {
    return partitionKey(this.topic, this.partition);
  }

  /** Back to the durable cursor (after a failed delivery or a reconnect). */
  rewind(cursor: number | undefined, logStartOffset: number): void {
    this.committed = cursor ?? null;
    this.readPosition = cursor ?? logStartOffset;
  }
}
