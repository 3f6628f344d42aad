// Record batches as a Kafka producer sends them: RecordBatch v2 with the producer's id, epoch and
// base sequence (inside the CRC, so the checksum is computed again), for tests of Log.appendBatch
// and of Produce over a raw socket.
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { compressFrameSync } from 'lz4-napi';
import { compressSync as snappyCompressSync } from 'snappy';
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

/** How a test compresses: Kafka's four codecs, snappy also in xerial's framing (snappy-java, the Java producer). */
export type TestCodec = 'gzip' | 'snappy' | 'snappy-xerial' | 'lz4' | 'zstd';
export const CODEC_IDS: Record<TestCodec, number> = { gzip: 1, snappy: 2, 'snappy-xerial': 2, lz4: 3, zstd: 4 };

/** `data` compressed by a real implementation of the codec: node:zlib, snappy, lz4-napi's frame, the zstd command. */
export function compress(codec: TestCodec, data: Buffer): Buffer {
  switch (codec) {
    case 'gzip':
      return gzipSync(data);
    case 'snappy':
      return snappyCompressSync(data);
    case 'snappy-xerial': {
      // "\x82SNAPPY\0", version 1, compatible version 1, then [int32 length, raw snappy chunk] per 32 KiB.
      const parts: Buffer[] = [Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1])];
      for (let pos = 0; pos < data.length; pos += 32 << 10) {
        const chunk = snappyCompressSync(data.subarray(pos, pos + (32 << 10)));
        const length = Buffer.alloc(4);
        length.writeInt32BE(chunk.length);
        parts.push(length, chunk);
      }
      return Buffer.concat(parts);
    }
    case 'lz4':
      return compressFrameSync(data);
    case 'zstd': {
      const out = spawnSync('zstd', ['-q', '-c', '--no-check'], { input: data, maxBuffer: 1 << 30 });
      if (out.status !== 0) throw new Error(`zstd exited ${out.status}: ${out.stderr.toString()}`);
      return out.stdout;
    }
  }
}

/** A client's batch of `records` whose records section is compressed with `codec` (attributes carry its id). */
export function compressedClientBatch(records: readonly RecordInput[], codec: TestCodec, fields: ProducerFields = {}): Buffer {
  const plain = clientBatch(records, fields);
  const batch = Buffer.concat([plain.subarray(0, 61), compress(codec, plain.subarray(61))]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE((fields.attributes ?? 0) | CODEC_IDS[codec], 21);
  return rechecksum(batch);
}
