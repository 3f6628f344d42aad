// An idempotence key carried in its batch, for replication (docs/architecture.md section 6,
// docs/replication.md invariant 5): a keyed append of a replicated log puts its key in a header of
// its first record, `tributary.idempotence-key` = JSON ["producer", sequence]. A follower's
// appendEntries holds the key of every batch that carries one in the same transaction as the
// batch, so the key is on every replica that has the batch: a new leader refuses a resend of the
// same key as a duplicate, as the old leader would have. (Chosen over the batch header's producer
// fields, which Kafka's idempotent producers of the endpoint use on the same partitions.)
// A release travels as a record of the internal topic `__tributary_key_releases`, value JSON
// ["producer", sequence] (sequence null: every key of the producer), appended by the leader's
// releaseIdempotenceKeys before it resolves (so before MQTT's PUBCOMP); a follower's appendEntries
// releases the key in the same transaction, in log order with the batches that hold keys.
import type { IdempotenceKey } from './writer-protocol.js';
import { decodeBatch, type RecordHeader } from './record-batch.js';

export const IDEMPOTENCE_KEY_HEADER = 'tributary.idempotence-key';
const NAME = Buffer.from(IDEMPOTENCE_KEY_HEADER);

export const KEY_RELEASES_TOPIC = '__tributary_key_releases';

export function releaseValue(producer: string, sequence: number | null): Buffer {
  return Buffer.from(JSON.stringify([producer, sequence]));
}

/** The releases a batch of KEY_RELEASES_TOPIC holds (values not understood are passed over). */
export function releasesOfBatch(batch: Buffer): Array<{ producer: string; sequence: number | null }> {
  const releases: Array<{ producer: string; sequence: number | null }> = [];
  for (const record of decodeBatch(batch).records) {
    try {
      const [producer, sequence] = JSON.parse(record.value?.toString() ?? 'null') as unknown[];
      if (typeof producer === 'string' && (sequence === null || Number.isSafeInteger(sequence))) releases.push({ producer, sequence: sequence as number | null });
    } catch {
      // not a release
    }
  }
  return releases;
}

export function keyHeader(key: IdempotenceKey): RecordHeader {
  return [IDEMPOTENCE_KEY_HEADER, Buffer.from(JSON.stringify([key.producer, key.sequence]))];
}

/** The key a stored batch carries, or null. Batches without the header's name are passed over unparsed. */
export function keyOfBatch(batch: Buffer): IdempotenceKey | null {
  if (batch.indexOf(NAME) < 0) return null;
  const first = decodeBatch(batch).records[0];
  const header = first?.headers.find(([name]) => name === IDEMPOTENCE_KEY_HEADER);
  if (header === undefined || header[1] === null) return null;
  try {
    const [producer, sequence] = JSON.parse(header[1].toString()) as unknown[];
    return typeof producer === 'string' && Number.isSafeInteger(sequence) ? { producer, sequence: sequence as number } : null;
  } catch {
    return null;
  }
}
