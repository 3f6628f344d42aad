// The checks a RecordBatch from a client (a Kafka producer) passes before the log stores it as
// sent. The log stores the client's bytes, patching only baseOffset and partitionLeaderEpoch
// (outside the CRC), so what it accepts must read back through decodeBatch like its own batches:
// the whole batch is walked here once, with every check of the record format.
//
// As Kafka's broker (ProduceRequest.validateRecords, LogValidator): a request's records for a
// partition are exactly one batch of magic 2; the CRC-32C holds; no control batch comes from a
// client; the records' offset deltas are 0..n-1 and the header's count and last delta agree; an
// idempotent batch (producerId >= 0) carries a sequence. Compressed batches are refused: the log's
// readers (replay, NDJSON, the forwarder) decode records and hold no codecs, so the log stores
// uncompressed batches only; the Kafka endpoint decompresses a producer's batch before it comes here
// (bridge/kafka/protocol/compressed-batch.ts).
import { InvalidBatchError } from '../errors.js';
import { BatchFormatError, type BatchHeader, readBatchHeader, RecordView, scanBatch } from './record-batch.js';

const COMPRESSION_MASK = 0x07;
/** Codecs 1-4 (gzip, snappy, lz4, zstd) exist; 5-7 are no codec at all. */
const KNOWN_CODECS = 4;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;
const MAGIC_POSITION = 16;
const LENGTH_POSITION = 8;
const HEADER_SIZE = 61;

/** Checks a client's batch; returns its header. Throws InvalidBatchError naming the problem. */
export function checkClientBatch(batch: Buffer): BatchHeader {
  if (batch.length < HEADER_SIZE) throw new InvalidBatchError('corrupt', `${batch.length} bytes cannot hold a batch header`);
  const magic = batch.readInt8(MAGIC_POSITION);
  if (magic !== 2) throw new InvalidBatchError('invalid', `magic ${magic}: only RecordBatch v2 (magic 2) is stored`);
  const declared = batch.readInt32BE(LENGTH_POSITION) + 12;
  if (declared < batch.length) throw new InvalidBatchError('invalid', 'a partition of a produce request must hold exactly one record batch');
  let header: BatchHeader;
  try {
    header = readBatchHeader(batch, true);
  } catch (err) {
    if (err instanceof BatchFormatError) throw new InvalidBatchError('corrupt', err.message);
    throw err;
  }
  const codec = header.attributes & COMPRESSION_MASK;
  if (codec > KNOWN_CODECS) throw new InvalidBatchError('corrupt', `compression codec ${codec} does not exist`);
  if (codec !== 0) throw new InvalidBatchError('compressed', `compression codec ${codec} (${CODEC_NAMES[codec]}): this log stores uncompressed batches only`);
  if ((header.attributes & CONTROL_FLAG) !== 0) throw new InvalidBatchError('invalid', 'a control batch cannot come from a client');
  if ((header.attributes & TRANSACTIONAL_FLAG) !== 0) throw new InvalidBatchError('invalid', 'transactional batches are not served (no transactions)');
  if (header.recordCount < 1 || header.lastOffsetDelta !== header.recordCount - 1) {
    throw new InvalidBatchError('invalid', `record count ${header.recordCount} does not match the last offset delta ${header.lastOffsetDelta}`);
  }
  if (header.producerId >= 0 && header.baseSequence < 0) throw new InvalidBatchError('invalid', `producer ${header.producerId} sent sequence ${header.baseSequence}`);
  checkRecords(batch, header);
  return header;
}

/** Walks the records: each parses, offset deltas are 0..n-1 in order, no timestamp above the header's maximum. */
function checkRecords(batch: Buffer, header: BatchHeader): void {
  let index = 0;
  try {
    scanBatch(batch, new RecordView(), (view) => {
      const delta = view.offset - header.baseOffset;
      if (delta !== index) throw new InvalidBatchError('invalid', `record ${index} has offset delta ${delta}`);
      if (view.timestamp > header.maxTimestamp) throw new InvalidBatchError('invalid', `record ${index} has timestamp ${view.timestamp}, after the batch's maximum ${header.maxTimestamp}`);
      index++;
    });
  } catch (err) {
    if (err instanceof BatchFormatError) throw new InvalidBatchError('corrupt', err.message);
    throw err;
  }
}

const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
