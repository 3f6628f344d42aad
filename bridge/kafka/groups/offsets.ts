// Committed offsets of Kafka consumer groups, kept durably in the node's cursor store
// (broker/cursors.ts, cursors.db, synchronous=FULL): an OffsetCommit that was answered survives a
// restart or a power cut. A Kafka group G is stored as the cursor-store group `kafka:G`: replay
// readers live under `reader:` (and their names cannot hold ':'), the upstream forwarder under
// `upstream`, so no Kafka client can move or delete another keeper's position, nor they its own.
// Kafka's per-offset metadata string and leader epoch are not stored (fetched back as "" and -1).
import type { CursorStore } from '../../../broker/cursors.js';

export const KAFKA_GROUP_PREFIX = 'kafka:';

export interface CommittedOffset {
  topic: string;
  partition: number;
  offset: number;
}

export class GroupOffsets {
  constructor(private readonly cursors: CursorStore) {}

  /** The group's committed offset of topic/partition, or null if it has none. */
  get(group: string, topic: string, partition: number): number | null {
    return this.cursors.get(KAFKA_GROUP_PREFIX + group, topic, partition);
  }

  /** Durably records the offsets (one transaction, one fsync). */
  commit(group: string, offsets: readonly CommittedOffset[]): void {
    if (offsets.length === 0) return;
    this.cursors.commitMany(KAFKA_GROUP_PREFIX + group, offsets.map((o) => ({ topic: o.topic, partition: o.partition, nextOffset: o.offset })));
  }

  /** Forgets every committed offset of the group (durably); how many there were. */
  deleteGroup(group: string): number {
    return this.cursors.delete(KAFKA_GROUP_PREFIX + group);
  }

  /** Forgets the group's committed offsets of these partitions, in one transaction (durably). */
  deletePartitions(group: string, partitions: ReadonlyArray<{ topic: string; partition: number }>): void {
    if (partitions.length > 0) this.cursors.deleteMany(KAFKA_GROUP_PREFIX + group, partitions);
  }

  /** Every committed offset of the group. */
  all(group: string): CommittedOffset[] {
    const name = KAFKA_GROUP_PREFIX + group;
    return this.cursors
      .list()
      .filter((c) => c.group === name)
      .map((c) => ({ topic: c.topic, partition: c.partition, offset: c.nextOffset }));
  }

  /** The Kafka groups that have committed offsets. */
  groups(): string[] {
    const names = new Set<string>();
    for (const c of this.cursors.list()) if (c.group.startsWith(KAFKA_GROUP_PREFIX)) names.add(c.group.slice(KAFKA_GROUP_PREFIX.length));
    return [...names];
  }
}
