// Kafka RecordBatch v2 (magic 2), the unit the log stores: one SQLite row per batch. Because the
// bytes are Kafka's own, a stored batch can be verified on read and later served to Kafka clients
// or followers unchanged.
import { crc32c } from './crc32c.js';
import { VarintReader, varintSize, writeVarint } from './varint.js';

/** A header: a name and bytes (Kafka allows repeated names, so headers are a list). */
export type RecordHeader = readonly [name: string, value: Buffer | null];

/** What a producer hands to the log: the log assigns the offset. */
export interface RecordInput {
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
}

/** A record read back from the log. */
export interface LogRecord extends RecordInput {
  offset: number;
  headers: readonly RecordHeader[];
}

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  firstTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface DecodedBatch extends BatchHeader {
  records: LogRecord[];
}

/** A batch could not be decoded; the log turns this into a CorruptBatchError naming where. */
export class BatchFormatError extends Error {}

// Byte layout of a RecordBatch v2 header (big-endian), offsets from the batch start:
//
//    0 baseOffset            int64
//    8 batchLength           int32   bytes after this field
//   12 partitionLeaderEpoch  int32
//   16 magic                 int8    = 2
//   17 crc                   uint32  CRC-32C of bytes [21, end)
//   21 attributes            int16   bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
//   23 lastOffsetDelta       int32
//   27 baseTimestamp         int64
//   35 maxTimestamp          int64
//   43 producerId            int64   -1 when not idempotent
//   51 producerEpoch         int16
//   53 baseSequence          int32
//   57 recordCount           int32
//   61 records...
//
// baseOffset, batchLength and partitionLeaderEpoch sit outside the CRC, so the writer can assign
// offsets and the epoch at commit time without re-checksumming (as Kafka's own broker does).
export const BATCH_HEADER_SIZE = 61;
export const BASE_OFFSET_POSITION = 0;
export const LEADER_EPOCH_POSITION = 12;
const CRC_POSITION = 17;
const ATTRIBUTES_POSITION = 21;
const MAGIC = 2;
const COMPRESSION_MASK = 0x07;
const CONTROL_FLAG = 0x20;

// A record (all integers zig-zag varints):
//   length, attributes int8, timestampDelta, offsetDelta, keyLength (-1 = null), key,
//   valueLength (-1 = null), value, headerCount, then per header:
//   nameLength, name (UTF-8), valueLength (-1 = null), value

/**
 * Encodes records as one uncompressed batch with baseOffset 0 (the writer patches it in).
 * The result owns its ArrayBuffer, so it can be transferred to the writer thread without a copy.
 */
export function encodeBatch(records: readonly RecordInput[], options: { baseOffset?: number } = {}): Buffer {
  if (records.length === 0) throw new RangeError('a record batch needs at least one record');
  let firstTimestamp = records[0]!.timestamp;
  let maxTimestamp = firstTimestamp;
  for (const r of records) {
    if (r.timestamp < firstTimestamp) firstTimestamp = r.timestamp;
    if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  }

  // Each record's body size, in one array for the batch: no object per record (garbage at ingest rates).
  const bodySizes = new Array<number>(records.length);
  let total = BATCH_HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    const size = sizeRecord(records[i]!, i, firstTimestamp);
    bodySizes[i] = size;
    total += varintSize(size) + size;
  }

  const buf = Buffer.allocUnsafeSlow(total);
  buf.writeBigInt64BE(BigInt(options.baseOffset ?? 0), 0);
  buf.writeInt32BE(total - 12, 8);
  buf.writeInt32BE(0, LEADER_EPOCH_POSITION);
  buf.writeInt8(MAGIC, 16);
  buf.writeInt16BE(0, ATTRIBUTES_POSITION); // no compression, CreateTime, not transactional
  buf.writeInt32BE(records.length - 1, 23);
  buf.writeBigInt64BE(BigInt(firstTimestamp), 27);
  buf.writeBigInt64BE(BigInt(maxTimestamp), 35);
  buf.writeBigInt64BE(-1n, 43);
  buf.writeInt16BE(-1, 51);
  buf.writeInt32BE(-1, 53);
  buf.writeInt32BE(records.length, 57);

  let pos = BATCH_HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    pos = writeRecord(buf, pos, records[i]!, bodySizes[i]!, i, firstTimestamp);
  }
  buf.writeUInt32BE(crc32c(buf, ATTRIBUTES_POSITION, total), CRC_POSITION);
  return buf;
}

/** The size of a record's body (all but its length varint). */
function sizeRecord(r: RecordInput, offsetDelta: number, firstTimestamp: number): number {
  let size = 1; // attributes
  size += varintSize(r.timestamp - firstTimestamp);
  size += varintSize(offsetDelta);
  size += r.key === null ? 1 : varintSize(r.key.length) + r.key.length;
  size += r.value === null ? 1 : varintSize(r.value.length) + r.value.length;
  const headers = r.headers ?? [];
  size += varintSize(headers.length);
  for (let h = 0; h < headers.length; h++) {
    const [name, value] = headers[h]!;
    const nameBytes = headerNameBytes(name);
    size += varintSize(nameBytes.length) + nameBytes.length;
    size += value === null ? 1 : varintSize(value.length) + value.length;
  }
  return size;
}

/**
 * Header names repeat on every record (an MQTT publish carries the same four), so their UTF-8
 * bytes are kept rather than made anew per record: at ingest rates that garbage adds up. The cache
 * is bounded; names beyond it are encoded each time.
 */
const HEADER_NAME_CACHE_SIZE = 256;
const headerNameCache = new Map<string, Buffer>();

function headerNameBytes(name: string): Buffer {
  let bytes = headerNameCache.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(name, 'utf8');
    if (headerNameCache.size < HEADER_NAME_CACHE_SIZE) headerNameCache.set(name, bytes);
  }
  return bytes;
}

function writeRecord(
  buf: Buffer,
  pos: number,
  r: RecordInput,
  bodySize: number,
  offsetDelta: number,
  firstTimestamp: number,
): number {
  pos = writeVarint(buf, pos, bodySize);
  buf[pos++] = 0; // record attributes: unused in v2
  pos = writeVarint(buf, pos, r.timestamp - firstTimestamp);
  pos = writeVarint(buf, pos, offsetDelta);
  pos = writeBytes(buf, pos, r.key);
  pos = writeBytes(buf, pos, r.value);
  const headers = r.headers ?? [];
  pos = writeVarint(buf, pos, headers.length);
  for (let h = 0; h < headers.length; h++) {
    // The same bytes sizeRecord counted: a cached name's, or a name beyond the cache encoded again.
    pos = writeBytes(buf, pos, headerNameBytes(headers[h]![0]));
    pos = writeBytes(buf, pos, headers[h]![1]);
  }
  return pos;
}

function writeBytes(buf: Buffer, pos: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Reads and sanity-checks the fixed header; verifies the CRC when `verify` is set. */
export function readBatchHeader(buf: Buffer, verify = true): BatchHeader {
  if (buf.length < BATCH_HEADER_SIZE) {
    throw new BatchFormatError(`batch is ${buf.length} bytes, shorter than its ${BATCH_HEADER_SIZE}-byte header`);
  }
  const batchLength = buf.readInt32BE(8);
  if (batchLength + 12 !== buf.length) {
    throw new BatchFormatError(`batch length field says ${batchLength + 12} bytes, stored ${buf.length}`);
  }
  const magic = buf.readInt8(16);
  if (magic !== MAGIC) throw new BatchFormatError(`magic byte is ${magic}, expected ${MAGIC}`);
  const crc = buf.readUInt32BE(CRC_POSITION);
  if (verify) {
    const actual = crc32c(buf, ATTRIBUTES_POSITION, buf.length);
    if (actual !== crc) {
      throw new BatchFormatError(`CRC-32C mismatch (stored ${hex(crc)}, computed ${hex(actual)})`);
    }
  }
  const recordCount = buf.readInt32BE(57);
  const lastOffsetDelta = buf.readInt32BE(23);
  if (recordCount < 0 || lastOffsetDelta < 0) {
    throw new BatchFormatError(`negative record count ${recordCount} or last offset delta ${lastOffsetDelta}`);
  }
  // The smallest record is 7 bytes (seven one-byte fields); more records than that can't fit.
  if (recordCount * 7 > buf.length - BATCH_HEADER_SIZE) {
    throw new BatchFormatError(`record count ${recordCount} cannot fit in ${buf.length - BATCH_HEADER_SIZE} bytes`);
  }
  return {
    baseOffset: Number(buf.readBigInt64BE(0)),
    batchLength,
    partitionLeaderEpoch: buf.readInt32BE(LEADER_EPOCH_POSITION),
    magic,
    crc,
    attributes: buf.readInt16BE(ATTRIBUTES_POSITION),
    lastOffsetDelta,
    firstTimestamp: Number(buf.readBigInt64BE(27)),
    maxTimestamp: Number(buf.readBigInt64BE(35)),
    producerId: Number(buf.readBigInt64BE(43)),
    producerEpoch: buf.readInt16BE(51),
    baseSequence: buf.readInt32BE(53),
    recordCount,
  };
}

/** True for Kafka transaction markers, which carry no user data. */
export function isControlBatch(header: BatchHeader): boolean {
  return (header.attributes & CONTROL_FLAG) !== 0;
}

/**
 * Where one record's fields lie inside its batch's bytes, as the record walker (RecordWalker, the
 * one place that parses and checks records) reports them. Lengths are -1 for null. One view is
 * filled per record and reused, so scanBatch's callers (the replay's NDJSON encoder copies bytes
 * out) walk a batch without allocating a Buffer, string or object per record.
 */
export class RecordView {
  offset = 0;
  timestamp = 0;
  keyStart = 0;
  keyLength = -1;
  valueStart = 0;
  valueLength = -1;
  headerCount = 0;
  /** Per header h: name at [nameStart[h], +nameLength[h]), value at [valueStart[h], +valueLength[h]). */
  headerNameStart = new Int32Array(8);
  headerNameLength = new Int32Array(8);
  headerValueStart = new Int32Array(8);
  headerValueLength = new Int32Array(8);

  fitHeaders(count: number): void {
    if (count <= this.headerNameStart.length) return;
    this.headerNameStart = new Int32Array(count);
    this.headerNameLength = new Int32Array(count);
    this.headerValueStart = new Int32Array(count);
    this.headerValueLength = new Int32Array(count);
  }
}

/**
 * Walks a stored batch record by record, with every check of the format (CRC first, every length
 * within its record, offsets within the batch), calling `visit` with the reused view. Allocates
 * nothing per record. Throws BatchFormatError naming what is wrong (records before a bad one have
 * been visited by then); an error thrown by `visit` passes through unchanged.
 */
export function scanBatch(buf: Buffer, view: RecordView, visit: (view: RecordView) => void): BatchHeader {
  const header = readStoredHeader(buf);
  const walker = new RecordWalker(buf, header, view);
  while (walker.next()) visit(view);
  return header;
}

/**
 * Decodes a stored batch, verifying its CRC first: corrupt bytes are never returned as records.
 * The same walk as scanBatch, with a record made from each view. Throws BatchFormatError naming
 * what is wrong.
 */
export function decodeBatch(buf: Buffer): DecodedBatch {
  const header = readStoredHeader(buf);
  const records: LogRecord[] = new Array(header.recordCount);
  const names = new HeaderNames();
  const view = decodeView;
  const walker = new RecordWalker(buf, header, view);
  for (let i = 0; walker.next(); i++) records[i] = recordFrom(buf, view, names);
  return { ...header, records };
}

/** decodeBatch's view: a decode runs to its end before the next begins, so one serves them all. */
const decodeView = new RecordView();

/** The fixed header of a stored batch, CRC-verified, refusing codecs this log never writes. */
function readStoredHeader(buf: Buffer): BatchHeader {
  const header = readBatchHeader(buf, true);
  const compression = header.attributes & COMPRESSION_MASK;
  if (compression !== 0) throw new BatchFormatError(`compressed batches (codec ${compression}) are not stored by this log`);
  return header;
}

/**
 * The one record walker, behind both scanBatch and decodeBatch: each next() reads the following
 * record into the view, with every check of the record format, and returns false after the last,
 * once no bytes are left over. One reader moves through the batch: its end is the batch's while a
 * record's length is read, then that record's, so no varint or field reads past its record.
 */
class RecordWalker {
  private readonly reader: VarintReader;
  private left: number;

  constructor(
    private readonly buf: Buffer,
    private readonly header: BatchHeader,
    private readonly view: RecordView,
  ) {
    this.reader = new VarintReader(buf, BATCH_HEADER_SIZE, buf.length);
    this.left = header.recordCount;
  }

  next(): boolean {
    const { buf, reader } = this;
    if (this.left === 0) {
      if (reader.pos !== buf.length) throw new BatchFormatError(`${buf.length - reader.pos} bytes left over after ${this.header.recordCount} records`);
      return false;
    }
    try {
      reader.end = buf.length;
      readRecord(reader, this.header, this.view);
    } catch (err) {
      if (err instanceof BatchFormatError) throw err;
      throw new BatchFormatError(`record data is malformed: ${(err as Error).message}`);
    }
    this.left--;
    return true;
  }
}

/** Reads the record at `reader.pos` into `view`; `reader.pos` ends after it. */
function readRecord(reader: VarintReader, header: BatchHeader, view: RecordView): void {
  const length = reader.varint();
  const end = reader.pos + length;
  if (length < 1 || end > reader.end) throw new BatchFormatError(`record length ${length} runs past the batch`);
  reader.end = end;
  reader.pos++; // the attributes byte, unused in v2
  view.timestamp = header.firstTimestamp + reader.varint();
  const offsetDelta = reader.varint();
  if (offsetDelta < 0 || offsetDelta > header.lastOffsetDelta) throw new BatchFormatError(`offset delta ${offsetDelta} outside 0..${header.lastOffsetDelta}`);
  view.offset = header.baseOffset + offsetDelta;
  view.keyLength = skipField(reader);
  view.keyStart = reader.pos - Math.max(0, view.keyLength);
  view.valueLength = skipField(reader);
  view.valueStart = reader.pos - Math.max(0, view.valueLength);
  const headerCount = reader.varint();
  if (headerCount < 0 || headerCount > end - reader.pos) throw new BatchFormatError(`header count ${headerCount} is impossible`);
  view.fitHeaders(headerCount);
  view.headerCount = headerCount;
  for (let h = 0; h < headerCount; h++) {
    const nameLength = skipField(reader);
    if (nameLength === -1) throw new BatchFormatError('a header has a null name');
    view.headerNameLength[h] = nameLength;
    view.headerNameStart[h] = reader.pos - nameLength;
    const valueLength = skipField(reader);
    view.headerValueLength[h] = valueLength;
    view.headerValueStart[h] = reader.pos - Math.max(0, valueLength);
  }
  if (reader.pos !== end) throw new BatchFormatError(`record at delta ${offsetDelta} has ${end - reader.pos} stray bytes`);
}

/** Skips a length-prefixed field, returning its length (-1 for null); `reader.pos` ends after it. */
function skipField(reader: VarintReader): number {
  const length = reader.varint();
  if (length === -1) return -1;
  if (length < 0 || reader.pos + length > reader.end) throw new BatchFormatError(`a field of ${length} bytes runs past its record`);
  reader.pos += length;
  return length;
}

/** The record `view` describes, its key, value and header values sharing `buf`'s memory. */
function recordFrom(buf: Buffer, view: RecordView, names: HeaderNames): LogRecord {
  const headers: RecordHeader[] = new Array(view.headerCount);
  for (let h = 0; h < view.headerCount; h++) {
    const nameStart = view.headerNameStart[h]!;
    headers[h] = [names.name(h, buf, nameStart, nameStart + view.headerNameLength[h]!), bytesAt(buf, view.headerValueStart[h]!, view.headerValueLength[h]!)];
  }
  return { offset: view.offset, timestamp: view.timestamp, key: bytesAt(buf, view.keyStart, view.keyLength), value: bytesAt(buf, view.valueStart, view.valueLength), headers };
}

function bytesAt(buf: Buffer, start: number, length: number): Buffer | null {
  return length === -1 ? null : buf.subarray(start, start + length);
}

/**
 * The records of a batch usually carry the same header names in the same places (mqtt.topic,
 * mqtt.qos, …): the string decoded for a place is reused while the bytes there stay the same,
 * instead of decoding a new string per header per record (a visible cost of replay reads).
 */
class HeaderNames {
  private readonly bytes: Buffer[] = [];
  private readonly strings: string[] = [];

  name(place: number, buf: Buffer, start: number, end: number): string {
    const known = this.bytes[place];
    if (known !== undefined && known.length === end - start) {
      let same = true;
      for (let i = 0; i < known.length; i++) {
        if (known[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.strings[place]!;
    }
    const name = buf.toString('utf8', start, end);
    if (place < 16) {
      this.bytes[place] = buf.subarray(start, end);
      this.strings[place] = name;
    }
    return name;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
