// The exactly-once cursors upstream: one record per local partition in a compacted topic,
// key `<node>/<topic>/<partition>`, value {"nextOffset": N, "log": "<log id>"}. A cursor record is
// written in the same Kafka transaction as the records it covers, so a read_committed reader sees
// both or neither. The log id tells this gateway's log from another one that uses the same node.id.
import type { Consumer } from '@platformatic/kafka';
import { partitionKey } from '../shared/partition-key.js';
import { UpstreamCursorConflictError, UpstreamCursorTopicError } from './errors.js';
import { readCommitted, type ReadCommittedOptions } from './committed-reader.js';
import type { UpstreamMessage } from './upstream-record.js';
import type { UpstreamTopics } from './upstream-topics.js';

export { LOG_ID_FILE, logIdentity } from '../shared/log-identity.js';

/**
 * The cursor topic as created here: compacted, and compacted soon. Kafka never compacts the active
 * segment, so with its defaults (1 GiB or 7 days per segment) every cursor record ever written
 * would stay, and each connect reads them all back.
 */
export const CURSOR_TOPIC_CONFIGS: Record<string, string> = {
  'cleanup.policy': 'compact',
  'segment.ms': String(60 * 60_000),
  'segment.bytes': String(16 * 1024 * 1024),
  'min.cleanable.dirty.ratio': '0.1',
};

/** Refuses a cursor topic that Kafka would clean by age or size: a lost cursor means everything stored is sent again. */
export async function checkCursorTopic(topics: UpstreamTopics, cursorTopic: string): Promise<void> {
  const policy = await topics.cleanupPolicy(cursorTopic);
  if (!policy.split(',').map((p) => p.trim()).includes('compact')) {
    throw new UpstreamCursorTopicError(`the cursor topic ${cursorTopic} upstream has cleanup.policy=${policy}, not compact: Kafka would delete exactly-once cursors and everything stored would be sent again; set cleanup.policy=compact on it`);
  }
}

export interface CursorValue {
  nextOffset: number;
  log: string;
}

export function cursorKey(node: string, topic: string, partition: number): string {
  return `${node}/${partitionKey(topic, partition)}`;
}

export function cursorMessage(cursorTopic: string, node: string, topic: string, partition: number, value: CursorValue): UpstreamMessage {
  return {
    topic: cursorTopic,
    partition: 0,
    key: Buffer.from(cursorKey(node, topic, partition)),
    value: Buffer.from(JSON.stringify(value)),
    timestamp: BigInt(Date.now()),
  };
}

/**
 * This node's committed cursors, as `topic/partition` -> next offset. Only this node's keys are
 * kept while reading (the topic holds every gateway's). Throws UpstreamCursorConflictError when one
 * was written by another log.
 */
export async function readCursors(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, cursorTopic: string, node: string, logId: string, options: ReadCommittedOptions): Promise<Map<string, number>> {
  const prefix = `${node}/`;
  // Parsed as they stream by: a record's key and value may be views of buffers the client reuses.
  const latest = new Map<string, { offset: bigint; value: CursorValue | null }>();
  await readCommitted(
    consumer,
    cursorTopic,
    0,
    (record) => {
      const key = record.key?.toString() ?? '';
      if (!key.startsWith(prefix)) return;
      // A tombstone deletes the cursor on purpose.
      if (record.value === null) latest.delete(key);
      else latest.set(key, { offset: record.offset, value: parseCursor(record.value) });
    },
    options,
  );
  const cursors = new Map<string, number>();
  const foreign: string[] = [];
  for (const [key, { offset, value }] of latest) {
    if (value === null) throw new UpstreamCursorConflictError(`the cursor record '${key}' in ${cursorTopic} at offset ${offset} is not a Tributary cursor`);
    if (value.log !== logId) foreign.push(key);
    cursors.set(key.slice(prefix.length), value.nextOffset);
  }
  if (foreign.length > 0) {
    throw new UpstreamCursorConflictError(
      `the upstream cursors ${foreign.slice(0, 3).join(', ')} in ${cursorTopic} were written by another log than this data directory's ` +
        `(another gateway with node.id '${node}', or this data directory was reset); forwarding stops so that nothing is skipped or mixed`,
    );
  }
  return cursors;
}

function parseCursor(value: Buffer): CursorValue | null {
  try {
    const parsed = JSON.parse(value.toString()) as Partial<CursorValue>;
    if (Number.isSafeInteger(parsed.nextOffset) && (parsed.nextOffset as number) >= 0 && typeof parsed.log === 'string') return parsed as CursorValue;
  } catch {
    // not JSON
  }
  return null;
}
