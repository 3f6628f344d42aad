// Record batches as a Kafka producer sends them: RecordBatch v2 with the producer's id, epoch and
// base sequence (inside the CRC, so the checksum is computed again), for tests of Log.appendBatch
// and of Produce over a raw socket.
import { crc32c } from '../../broker/log/crc32c.js';
import { encodeBatch, type RecordInput } from '../../broker/log/record-batch.js';

export interface ProducerFields {
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  /** The attributes field as sent (compression codec in bits 0-2, transactional bit 4, control bit 5). */
  attributes?: number;
}

/** A batch of `records` as a client sends it; by default not idempotent (producer id -1). */
export function clientBatch(records: readonly RecordInput[], fields: ProducerFields = {}): Buffer {
  const batch = encodeBatch(records);
  batch.writeInt16BE(fields.attributes ?? 0, 21);
  batch.writeBigInt64BE(BigInt(fields.producerId ?? -1), 43);
  batch.writeInt16BE(fields.producerEpoch ?? -1, 51);
  batch.writeInt32BE(fields.baseSequence ?? -1, 53);
  return rechecksum(batch);
}

/** Writes the batch's CRC-32C again after a change inside it. */
export function rechecksum(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
  return batch;
}
