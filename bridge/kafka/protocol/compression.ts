// The record codecs of Kafka's RecordBatch (attributes bits 0-2): 1 gzip, 2 snappy, 3 lz4, 4 zstd.
// Produce decompresses a client's compressed batch into an uncompressed one (compressed-batch.ts),
// as Kafka's broker does for a topic whose compression.type is `uncompressed`. Every codec is
// bounded by `limit` before it allocates: a small payload that claims or expands to more (a zip
// bomb) is refused without the memory being taken.
//
//   gzip   RFC 1952, possibly several members: node:zlib with maxOutputLength.
//   snappy either raw snappy (librdkafka) or xerial's framing (snappy-java, the Java producer):
//          "\x82SNAPPY\0", int32 version, int32 compatible version, then [int32 length, raw chunk]*.
//          Each raw chunk starts with its uncompressed length (a varint), read here first.
//          Decoded by `snappy` (napi-rs, Rust's snap).
//   lz4    the LZ4 frame format (lz4_Frame_format.md; KIP-57: Kafka's since magic 1). Each block
//          expands to at most the frame's block maximum size, so the walk of the block headers
//          bounds the whole before lz4-napi (lz4_flex) decodes it.
//   zstd   RFC 8878 frames: a compressed block expands to at most min(window, 128 KiB), a raw or
//          RLE block to its Block_Size, so the walk of the block headers bounds it too, and the
//          window is checked before fzstd (pure JS; Node 20's zlib has no zstd) allocates it.
//
// @platformatic/kafka's own codecs (@platformatic/wasm-utils for snappy and lz4) are not used: one
// corrupt input leaves its WebAssembly instance unable to decode anything after it.
import { gunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { decompressFrame as lz4DecompressFrame } from 'lz4-napi';
import { uncompress as snappyUncompress } from 'snappy';
import { DecompressionError } from '../errors.js';

export const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type CodecName = (typeof CODEC_NAMES)[number];

/** The name of a codec id, or null for an id that names no codec (5-7). */
export function codecName(codec: number): CodecName | null {
  return CODEC_NAMES[codec] ?? null;
}

function gunzipAsync(data: Buffer, maxOutputLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => gunzip(data, { maxOutputLength }, (err, out) => (err === null ? resolve(out) : reject(err))));
}

/**
 * The bytes `data` (the records section of a batch compressed with `codec`) expand to, at most
 * `limit` of them. Throws DecompressionError: 'unsupported' (no such codec), 'corrupt' (the bytes
 * do not decode) or 'too-large' (they would expand past `limit`).
 */
export async function decompress(codec: number, data: Buffer, limit: number): Promise<Buffer> {
  const name = codecName(codec);
  if (name === null || name === 'none') throw new DecompressionError('unsupported', String(codec), `compression codec id ${codec} names no codec Kafka defines (1 gzip, 2 snappy, 3 lz4, 4 zstd)`);
  try {
    const out = await DECODERS[name](data, limit);
    if (out.length > limit) throw tooLarge(name, limit);
    return out;
  } catch (err) {
    if (err instanceof DecompressionError) throw err;
    throw new DecompressionError('corrupt', name, `${name} data does not decode: ${(err as Error).message}`);
  }
}

function tooLarge(codec: string, limit: number, claimed?: number): DecompressionError {
  const what = claimed === undefined ? '' : ` (it claims ${claimed} bytes)`;
  return new DecompressionError('too-large', codec, `the ${codec} records expand past kafka.maxUncompressedBytes (${limit} bytes)${what}`);
}

function corrupt(codec: string, reason: string): DecompressionError {
  return new DecompressionError('corrupt', codec, `${codec} data does not decode: ${reason}`);
}

const DECODERS: Record<Exclude<CodecName, 'none'>, (data: Buffer, limit: number) => Promise<Buffer>> = {
  async gzip(data, limit) {
    try {
      return await gunzipAsync(data, limit);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('gzip', limit);
      throw err;
    }
  },

  async snappy(data, limit) {
    if (!isXerial(data)) {
      const claimed = snappyLength(data);
      if (claimed > limit) throw tooLarge('snappy', limit, claimed);
      return asBuffer(await snappyUncompress(data));
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (let pos = XERIAL_HEADER_SIZE; pos < data.length; ) {
      if (pos + 4 > data.length) throw corrupt('snappy', `a xerial chunk length is cut off at byte ${pos}`);
      const length = data.readInt32BE(pos);
      pos += 4;
      if (length < 0 || pos + length > data.length) throw corrupt('snappy', `a xerial chunk of ${length} bytes runs past the data`);
      const chunk = data.subarray(pos, pos + length);
      pos += length;
      total += snappyLength(chunk);
      if (total > limit) throw tooLarge('snappy', limit, total);
      chunks.push(asBuffer(await snappyUncompress(chunk)));
    }
    return Buffer.concat(chunks);
  },

  async lz4(data, limit) {
    const { bound, slack } = lz4Bound(data);
    if (bound - slack > limit) throw tooLarge('lz4', limit, bound);
    return lz4DecompressFrame(data); // at most limit + one block; decompress() checks the limit exactly
  },

  async zstd(data, limit) {
    const { bound, slack } = zstdBound(data, limit);
    if (bound - slack > limit) throw tooLarge('zstd', limit, bound);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const decoder = new ZstdDecompress((chunk) => {
      total += chunk.length;
      if (total > limit) throw tooLarge('zstd', limit);
      chunks.push(chunk);
    });
    decoder.push(data, true);
    return Buffer.concat(chunks, total);
  },
};

function asBuffer(out: string | Buffer): Buffer {
  return typeof out === 'string' ? Buffer.from(out) : out;
}

// --- snappy ---------------------------------------------------------------------------------------

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]); // \x82SNAPPY\0
const XERIAL_HEADER_SIZE = 16; // magic, int32 version, int32 compatible version

function isXerial(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_SIZE && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

/** A raw snappy chunk's preamble: its uncompressed length, a little-endian base-128 varint (at most 2^32 - 1). */
function snappyLength(chunk: Buffer): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= chunk.length) throw corrupt('snappy', 'the length preamble is cut off');
    const byte = chunk[i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return value;
  }
  throw corrupt('snappy', 'the length preamble is longer than 5 bytes');
}

// --- lz4 ------------------------------------------------------------------------------------------

const LZ4_MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const LZ4_SKIPPABLE = 0x184d2a50;
const LZ4_BLOCK_SIZES: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };

/**
 * The most a codec's data can expand to, from its block headers alone; `slack` is the largest block
 * counted at its maximum size. An encoder fills every block but the last, so a bound minus its slack
 * above the limit is over it for sure; within that, the decoder runs (taking at most one block more
 * than the limit) and the result is held to the limit exactly.
 */
interface Bound {
  bound: number;
  slack: number;
}

/**
 * The most the LZ4 frames in `data` can expand to, from their block headers alone:
 *
 *   Frame => magic(u32le 0x184D2204) FLG BD [content_size u64le] [dict_id u32le] HC
 *            Block* EndMark(u32le 0) [content_checksum u32le]
 *   FLG   => version(2 bits, 01) B.Indep B.Checksum C.Size C.Checksum reserved DictID
 *   BD    => reserved, block max size id (bits 4-6: 4 = 64 KiB ... 7 = 4 MiB), reserved
 *   Block => size(u32le; high bit: stored uncompressed) data [block_checksum u32le]
 */
function lz4Bound(data: Buffer): Bound {
  let bound = 0;
  let slack = 0;
  let pos = 0;
  while (pos < data.length) {
    const magic = u32At(data, pos, 'lz4');
    if ((magic & SKIPPABLE_MASK) >>> 0 === LZ4_SKIPPABLE) {
      pos += 8 + u32At(data, pos + 4, 'lz4');
      continue;
    }
    if (magic !== LZ4_MAGIC) throw corrupt('lz4', `no LZ4 frame magic at byte ${pos}`);
    if (pos + 7 > data.length) throw corrupt('lz4', 'the frame descriptor is cut off');
    const flg = data[pos + 4]!;
    const bd = data[pos + 5]!;
    if (flg >> 6 !== 1) throw corrupt('lz4', `frame version ${flg >> 6}`);
    const blockMax = LZ4_BLOCK_SIZES[(bd >> 4) & 7];
    if (blockMax === undefined) throw corrupt('lz4', `block maximum size id ${(bd >> 4) & 7}`);
    const blockChecksum = (flg & 0x10) !== 0;
    pos += 6 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0) + 1;
    for (;;) {
      const word = u32At(data, pos, 'lz4');
      pos += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if ((word & 0x80000000) !== 0) bound += size;
      else {
        bound += blockMax;
        slack = Math.max(slack, blockMax);
      }
      pos += size + (blockChecksum ? 4 : 0);
    }
    if ((flg & 0x04) !== 0) pos += 4;
  }
  return { bound, slack };
}

function u32At(data: Buffer, pos: number, codec: string): number {
  if (pos + 4 > data.length) throw corrupt(codec, `cut off at byte ${pos}`);
  return data.readUInt32LE(pos);
}

// --- zstd -----------------------------------------------------------------------------------------

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_SKIPPABLE = 0x184d2a50;
const ZSTD_BLOCK_MAX = 128 << 10;
/** A window a decoder may always allocate: 8 MiB, what the zstd library's levels up to 19 use on a stream of unknown size (the Java producer's). */
const ZSTD_WINDOW_ALWAYS = 8 << 20;

/**
 * The most the zstd frames in `data` can expand to, from their headers and block headers (RFC 8878
 * 3.1.1); a window above `limit` (and above 8 MiB) is refused here, before a decoder would allocate it:
 *
 *   Frame  => magic(u32le 0xFD2FB528) descriptor [window_descriptor] [dict_id] [content_size]
 *             Block* [content_checksum u32le]
 *   descriptor => content_size_flag(bits 6-7) single_segment(5) unused reserved checksum(2) dict_id_flag(0-1)
 *   Block  => header(u24le: last(bit 0) type(bits 1-2: raw, RLE, compressed) size(bits 3-23)) content
 */
function zstdBound(data: Buffer, limit: number): Bound {
  let bound = 0;
  let slack = 0;
  let pos = 0;
  while (pos < data.length) {
    const magic = u32At(data, pos, 'zstd');
    if ((magic & SKIPPABLE_MASK) >>> 0 === ZSTD_SKIPPABLE) {
      pos += 8 + u32At(data, pos + 4, 'zstd');
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt('zstd', `no zstd frame magic at byte ${pos}`);
    if (pos + 5 > data.length) throw corrupt('zstd', 'the frame header is cut off');
    const descriptor = data[pos + 4]!;
    const singleSegment = (descriptor & 0x20) !== 0;
    const sizeFlag = descriptor >> 6;
    pos += 5;
    let window = 0;
    if (!singleSegment) {
      const wd = data[pos++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    pos += [0, 1, 2, 4][descriptor & 3]!;
    const sizeBytes = sizeFlag === 0 ? (singleSegment ? 1 : 0) : 1 << sizeFlag;
    if (pos + sizeBytes > data.length) throw corrupt('zstd', 'the frame header is cut off');
    if (singleSegment) window = sizeBytes === 8 ? Number(data.readBigUInt64LE(pos)) : data.readUIntLE(pos, sizeBytes) + (sizeBytes === 2 ? 256 : 0);
    pos += sizeBytes;
    if (window > Math.max(limit, ZSTD_WINDOW_ALWAYS)) throw new DecompressionError('too-large', 'zstd', `a zstd window of ${window} bytes is over kafka.maxUncompressedBytes (${limit} bytes)`);
    const blockMax = Math.min(window, ZSTD_BLOCK_MAX);
    for (let last = false; !last; ) {
      if (pos + 3 > data.length) throw corrupt('zstd', `a block header is cut off at byte ${pos}`);
      const header = data.readUIntLE(pos, 3);
      pos += 3;
      last = (header & 1) !== 0;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw corrupt('zstd', 'a block of the reserved type');
      bound += type === 2 ? blockMax : size;
      if (type === 2) slack = Math.max(slack, blockMax);
      pos += type === 1 ? 1 : size;
      if (bound - slack > limit) return { bound, slack };
    }
    if ((descriptor & 0x04) !== 0) pos += 4;
  }
  return { bound, slack };
}
