// A producer's compressed RecordBatch made into the uncompressed batch the log stores, as Kafka's
// broker does for a topic whose compression.type is `uncompressed` (LogValidator,
// validateMessagesAndAssignOffsetsCompressed): the records are decompressed and written again under
// the same header (producer id, epoch, base sequence, timestamps, attributes without the codec
// bits), with the batch length and the CRC-32C computed anew. The log then assigns the offsets and
// checks every record as for any client batch (broker/log/client-batch.ts).
//
//   RecordBatch v2 => baseOffset(0) batchLength(8) partitionLeaderEpoch(12) magic(16) crc(17)
//                     attributes(21) ... recordCount(57) records(61...)
//   compressed:   records = codec(record*)     uncompressed: records = record*
import { crc32c } from '../../../broker/log/crc32c.js';
import { BATCH_HEADER_SIZE, readBatchHeader } from '../../../broker/log/record-batch.js';
import { DecompressionError } from '../errors.js';
import { decompress } from './compression.js';

const LENGTH_POSITION = 8;
const MAGIC_POSITION = 16;
const CRC_POSITION = 17;
const ATTRIBUTES_POSITION = 21;
const COMPRESSION_MASK = 0x07;

/**
 * The uncompressed bytes of one Produce request's compressed batches together stay within a
 * limit (kafka.maxUncompressedBytes): the batches are decompressed one at a time, each bounded by
 * what the ones before it left, so a request of many small bombs cannot add up either.
 */
export class DecompressionBudget {
  private left: number;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(readonly limit: number) {
    this.left = limit;
  }

  /** `batch` as the log stores it: unchanged when it is not compressed (or not a batch the log would take at all: the log's checks name that). */
  uncompressed(batch: Buffer): Promise<Buffer> {
    if (codecOf(batch) === 0) return Promise.resolve(batch);
    const result = this.turn.then(async () => {
      const out = await uncompressedBatch(batch, this.left, this.limit);
      this.left -= out.length - BATCH_HEADER_SIZE;
      return out;
    });
    this.turn = result.catch(() => undefined);
    return result;
  }
}

/** The codec bits of a batch that looks like RecordBatch v2 with a sound CRC; 0 for anything else (left to the log's checks). */
function codecOf(batch: Buffer): number {
  if (batch.length < BATCH_HEADER_SIZE || batch.readInt8(MAGIC_POSITION) !== 2) return 0;
  if (batch.readInt32BE(LENGTH_POSITION) + 12 !== batch.length) return 0;
  return batch.readInt16BE(ATTRIBUTES_POSITION) & COMPRESSION_MASK;
}

/** The batch with its records decompressed (at most `left` bytes of them); throws DecompressionError. */
async function uncompressedBatch(batch: Buffer, left: number, limit: number): Promise<Buffer> {
  try {
    readBatchHeader(batch, true); // the CRC covers the compressed bytes: checked before they are decoded
  } catch {
    return batch; // the log's checks answer it (CORRUPT_MESSAGE, naming the cause)
  }
  const codec = batch.readInt16BE(ATTRIBUTES_POSITION) & COMPRESSION_MASK;
  let records: Buffer;
  try {
    records = await decompress(codec, batch.subarray(BATCH_HEADER_SIZE), left);
  } catch (err) {
    if (err instanceof DecompressionError && err.problem === 'too-large' && left < limit) {
      throw new DecompressionError('too-large', err.codec, `the ${err.codec} records expand past what kafka.maxUncompressedBytes (${limit} bytes) leaves of the request: its earlier batches took ${limit - left} bytes`);
    }
    throw err;
  }
  const out = Buffer.allocUnsafeSlow(BATCH_HEADER_SIZE + records.length);
  batch.copy(out, 0, 0, BATCH_HEADER_SIZE);
  records.copy(out, BATCH_HEADER_SIZE);
  out.writeInt32BE(out.length - 12, LENGTH_POSITION);
  out.writeInt16BE(batch.readInt16BE(ATTRIBUTES_POSITION) & ~COMPRESSION_MASK, ATTRIBUTES_POSITION);
  out.writeUInt32BE(crc32c(out, ATTRIBUTES_POSITION, out.length), CRC_POSITION);
  return out;
}
