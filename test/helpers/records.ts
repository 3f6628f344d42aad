import type { RecordInput } from '../../broker/log/record-batch.js';

/** `count` records with recognisable values `${tag}-${i}` and a key per record. */
export function makeRecords(count: number, tag = 'r', timestamp = 1_700_000_000_000): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({
    timestamp: timestamp + i,
    key: Buffer.from(`key-${i % 7}`),
    value: Buffer.from(`${tag}-${i}`),
    headers: [['mqtt.topic', Buffer.from(`sensors/${i}`)]] as const,
  }));
}

export function values(records: readonly { value: Buffer | null }[]): string[] {
  return records.map((r) => r.value?.toString() ?? '<null>');
}
