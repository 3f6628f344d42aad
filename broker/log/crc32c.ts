// CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2. @node-rs/crc32 computes it with
// the CPU's CRC instructions (SSE 4.2, ARMv8 CRC): about 10x a table-driven JS loop, which matters
// because every batch is checksummed once on append and again on every read.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `bytes[start, end)`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
  return nativeCrc32c(view) >>> 0;
}
