// The epoch-start entry a new leader appends first (docs/replication.md, invariant 2): a record of
// the internal topic `__tributary_epochs`, value {"epoch": E, "leader": id, "log": uuid}. `log` is
// the cluster's log id, which the upstream forwarder's exactly-once cursors carry (docs/upstream.md):
// the first leader writes its data directory's log id, every later leader carries on the one it
// finds in its log, and every node keeps the one it last saw in its data directory, so that whichever
// node leads forwards as the same log. Epoch records written before the id existed have no `log`.
import type { Log, StoredEntry } from '../../broker/log/log.js';
import { decodeBatch } from '../../broker/log/record-batch.js';
import { logIdentity, readLogIdentity, writeLogIdentity } from '../shared/log-identity.js';

/** The internal topics' names start with this: the epoch records and the replicated state (replicated-state.ts). */
export const INTERNAL_TOPIC_PREFIX = '__tributary_';
export const EPOCHS_TOPIC = `${INTERNAL_TOPIC_PREFIX}epochs`;

export interface EpochRecord {
  epoch: number;
  leader: string;
  /** The cluster's log id; absent in records of a version before it. */
  log?: string;
}

export function encodeEpochRecord(record: EpochRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

/** The `log` of an epoch record's value; null for a value without one, or not an epoch record. */
export function logIdOf(value: Buffer | null): string | null {
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value.toString()) as Partial<EpochRecord>;
    return typeof parsed.log === 'string' && parsed.log !== '' ? parsed.log : null;
  } catch {
    return null;
  }
}

/** The log id of the newest epoch record among `entries` that carries one (fetched entries, in order). */
export function logIdInEntries(entries: readonly StoredEntry[]): string | null {
  let found: string | null = null;
  for (const entry of entries) {
    if (entry.topic !== EPOCHS_TOPIC) continue;
    for (const record of decodeBatch(entry.batch).records) found = logIdOf(record.value) ?? found;
  }
  return found;
}

/**
 * The log id a new leader forwards and writes in its epoch record: the newest one in its log's
 * epoch records (it holds every committed entry, so every id a former leader forwarded under),
 * else the one its data directory keeps (a former single node's, or learned from a leader whose
 * records retention has deleted since), else a new one. Kept in the data directory.
 */
export function clusterLogId(log: Log, dataDir: string): string {
  let found: string | null = null;
  if (log.topics().some((t) => t.name === EPOCHS_TOPIC)) {
    const partition = log.partition(EPOCHS_TOPIC, 0);
    for (let offset = partition.logStartOffset; ; ) {
      const read = log.read(EPOCHS_TOPIC, 0, offset, { maxRecords: 1000, isolation: 'logEnd' });
      if (read.records.length === 0) break;
      for (const record of read.records) found = logIdOf(record.value) ?? found;
      offset = read.records.at(-1)!.offset + 1;
    }
  }
  if (found === null) return logIdentity(dataDir);
  keepLogId(dataDir, found);
  return found;
}

/** Keeps `id` as the data directory's log id when it differs from the one kept. */
export function keepLogId(dataDir: string, id: string): void {
  if (readLogIdentity(dataDir) !== id) writeLogIdentity(dataDir, id);
}
