// The fast path of the records route: NDJSON lines written straight from stored batches
// (Log.readBatches, bounded by bytes) for one partition, without materialising a LogRecord per
// record. The lines are byte-for-byte those of LogSource + NdjsonEncoder.encode (a test holds the
// two to that); merging several partitions by timestamp still goes through LogSource.
import { CorruptBatchError } from '../../broker/errors.js';
import type { Log } from '../../broker/log/log.js';
import { BatchFormatError, RecordView, scanBatch } from '../../broker/log/record-batch.js';
import type { NdjsonEncoder } from './ndjson.js';
import type { PartitionRange } from './range.js';

export interface LineChunk {
  bytes: Buffer;
  /** Records passed (written or filtered out). */
  records: number;
  nextOffset: number;
}

const CHUNK_BYTES = 1024 * 1024;

export class BatchLineSource {
  private next: number;
  private readonly view = new RecordView();

  constructor(
    private readonly log: Log,
    private readonly topic: string,
    private readonly range: PartitionRange,
    private readonly encoder: NdjsonEncoder,
    private readonly key: Buffer | null,
  ) {
    this.next = range.from;
  }

  /**
   * The lines of the next stored batches (about 1 MiB of them), or null at the end of the range.
   * Empty when a key filter matched nothing in them: one call scans about 1 MiB at most.
   */
  nextChunk(): LineChunk | null {
    const { partition, to } = this.range;
    if (this.next >= to) return null;
    const start = this.next;
    // Throws CorruptBatchError only when the batch at `start` is bad; a bad one later in the
    // chunk ends the chunk before it (the next call throws).
    const batches = this.log.readBatches(this.topic, partition, start, CHUNK_BYTES);
    if (batches.length === 0) return null;
    let expected = start;
    for (const batch of batches) {
      if (expected >= to) break;
      // Offsets are dense: a batch starting past the next offset means rows went missing.
      if (batch.baseOffset > expected) {
        if (expected === start) throw new CorruptBatchError(this.topic, partition, expected, `offsets ${expected}..${batch.baseOffset - 1} are missing`, batch.baseOffset - 1);
        break;
      }
      const mark = this.encoder.mark();
      try {
        this.scan(batch.bytes, batch.baseOffset, batch.lastOffset, expected, to);
      } catch (err) {
        // Its CRC held but its records do not parse: the good batches before it go out first.
        if (expected === start || !(err instanceof CorruptBatchError)) throw err;
        this.encoder.rewind(mark);
        break;
      }
      expected = Math.max(expected, Math.min(batch.lastOffset + 1, to));
    }
    this.next = expected;
    const bytes = this.encoder.take();
    return { bytes, records: this.next - start, nextOffset: this.next };
  }

  /** Passes over the corrupt batch `err` names: the next chunk starts after its range. */
  skip(err: CorruptBatchError): void {
    this.encoder.rewind(0);
    this.next = Math.min(Math.max(err.lastOffset + 1, this.next + 1), this.range.to);
  }

  private scan(bytes: Buffer, baseOffset: number, lastOffset: number, from: number, to: number): void {
    const { partition } = this.range;
    const key = this.key;
    try {
      scanBatch(bytes, this.view, (v) => {
        if (v.offset < from || v.offset >= to) return;
        if (key !== null && (v.keyLength !== key.length || bytes.compare(key, 0, key.length, v.keyStart, v.keyStart + v.keyLength) !== 0)) return;
        this.encoder.appendView(partition, bytes, v);
      });
    } catch (err) {
      if (err instanceof BatchFormatError) throw new CorruptBatchError(this.topic, partition, baseOffset, err.message, lastOffset);
      throw err;
    }
  }
}
