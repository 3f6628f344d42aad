// The replay readers' and Kafka consumer groups' committed positions, replicated (docs/replication.md,
// "State beside the records"): every change the leader's cursor store makes to a `reader:` or
// `kafka:` group becomes a record of `__tributary_positions`, key ["group","topic",partition] (JSON),
// value {"nextOffset":N} (JSON) or null when the position was forgotten; followers apply them to
// their own cursors.db. The upstream forwarder's own cursor is not replicated: a cluster forwards
// exactly once with its cursors in the central Kafka (docs/upstream.md).
import type { CursorChange, CursorStore } from '../../broker/cursors.js';
import type { ReplicatedState, StateRecord } from './replicated-state.js';

export const POSITIONS_TOPIC = '__tributary_positions';

const REPLICATED_GROUPS = ['reader:', 'kafka:'];

export function replicatedGroup(group: string): boolean {
  return REPLICATED_GROUPS.some((prefix) => group.startsWith(prefix));
}

export function encodePosition(change: CursorChange): StateRecord {
  return {
    key: Buffer.from(JSON.stringify([change.group, change.topic, change.partition])),
    value: change.nextOffset === null ? null : Buffer.from(JSON.stringify({ nextOffset: change.nextOffset })),
  };
}

/** The change a record describes; null for a record that is not a position (written by a later version, say). */
export function decodePosition(record: StateRecord): CursorChange | null {
  try {
    const [group, topic, partition] = JSON.parse(record.key.toString()) as unknown[];
    if (typeof group !== 'string' || typeof topic !== 'string' || !Number.isSafeInteger(partition)) return null;
    if (record.value === null) return { group, topic, partition: partition as number, nextOffset: null };
    const { nextOffset } = JSON.parse(record.value.toString()) as { nextOffset?: unknown };
    return Number.isSafeInteger(nextOffset) && (nextOffset as number) >= 0 ? { group, topic, partition: partition as number, nextOffset: nextOffset as number } : null;
  } catch {
    return null;
  }
}

/** Replicates `cursors`' reader and Kafka group positions through `state`; returns the unwatch. */
export function replicatePositions(state: ReplicatedState, cursors: CursorStore): () => void {
  state.register(POSITIONS_TOPIC, {
    apply: (records) => cursors.applyReplicated(records.map(decodePosition).filter((c): c is CursorChange => c !== null && replicatedGroup(c.group))),
    snapshot: () => cursors.list().filter((c) => replicatedGroup(c.group)).map((c) => encodePosition({ group: c.group, topic: c.topic, partition: c.partition, nextOffset: c.nextOffset })),
  });
  return cursors.onChange((changes) => void state.write(POSITIONS_TOPIC, changes.filter((c) => replicatedGroup(c.group)).map(encodePosition)));
}
