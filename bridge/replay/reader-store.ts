// Named readers' positions in the cursor store. The store also holds the upstream forwarder's
// position (group `upstream`); readers live in a namespace of their own (group `reader:NAME`, and
// a reader name cannot hold ':'), so nothing a reader does can move or delete another keeper's
// position. Readers stored before the namespace existed (group `NAME`) are still found and
// listed, and move under `reader:` at their next commit. Kafka consumer groups' committed offsets
// (group `kafka:GROUP`, written by the Kafka endpoint) are listed beside them as `kafka:GROUP`, a
// name no reader can have; they are changed only through Kafka (OffsetCommit, DeleteGroups, OffsetDelete).
import type { CursorStore } from '../../broker/cursors.js';
import { checkName, RESERVED_NAMES } from './reader-name.js';

const PREFIX = 'reader:';
const KAFKA_GROUP_PREFIX = 'kafka:';

export interface ReaderPosition {
  reader: string;
  topic: string;
  partition: number;
  nextOffset: number;
  updatedAt: number;
}

export class ReaderPositions {
  constructor(private readonly cursors: CursorStore) {}

  /** The reader's next offset in topic/partition, or null if it has none. */
  get(reader: string, topic: string, partition: number): number | null {
    checkName(reader);
    return this.cursors.get(PREFIX + reader, topic, partition) ?? this.cursors.get(reader, topic, partition);
  }

  /** Durably records the reader's positions (one transaction, one fsync). */
  commitMany(reader: string, entries: ReadonlyArray<{ topic: string; partition: number; nextOffset: number }>): void {
    checkName(reader);
    this.cursors.renameAndCommit(reader, PREFIX + reader, entries);
  }

  list(): ReaderPosition[] {
    const byKey = new Map<string, ReaderPosition>();
    for (const c of this.cursors.list()) {
      const reader = readerOf(c.group);
      if (reader === null) continue;
      const key = `${reader}\0${c.topic}\0${c.partition}`;
      // A namespaced position wins over a legacy one of the same name.
      if (byKey.has(key) && !c.group.startsWith(PREFIX)) continue;
      byKey.set(key, { reader, topic: c.topic, partition: c.partition, nextOffset: c.nextOffset, updatedAt: c.updatedAt });
    }
    return [...byKey.values()].sort((a, b) => (a.reader < b.reader ? -1 : a.reader > b.reader ? 1 : a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  /** Forgets the reader (under either naming); returns how many positions it had. */
  delete(reader: string): number {
    checkName(reader);
    const count = this.list().filter((p) => p.reader === reader).length;
    this.cursors.delete(PREFIX + reader);
    this.cursors.delete(reader);
    return count;
  }
}

/** The reader a cursor-store group belongs to, or null for the node's own groups. */
function readerOf(group: string): string | null {
  if (group.startsWith(PREFIX)) return group.slice(PREFIX.length);
  if (group.startsWith(KAFKA_GROUP_PREFIX)) return group;
  if (group.includes(':') || RESERVED_NAMES.has(group)) return null;
  return group;
}
