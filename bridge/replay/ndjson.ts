// NDJSON encoding of log records, the replay's main output format. One line per record:
//
//   {"topic":"t","partition":0,"offset":12,"timestamp":1700000000000,"key":"k",
//    "value":{"temp":21.5},"valueEncoding":"json","headers":[["mqtt.topic","sensors/1"]]}
//
// value/valueEncoding (see docs/replay.md):
//   "json"   the payload is one valid JSON text (UTF-8): `value` IS that JSON value, embedded as is
//   "string" the payload is valid UTF-8 but not JSON: `value` is that text as a JSON string
//   "base64" anything else, or always with `forceBase64`: `value` is the bytes in base64
//   null     the record has no value (`value` is null)
// Keys and header values are never parsed as JSON, so they need no encoding field: a JSON string
// is the UTF-8 text; an object {"base64":"..."} holds bytes that are not UTF-8; null is null.
//
// Speed matters here (bench/replay.bench.ts): lines are assembled as bytes in one large buffer per
// chunk of records; only the topic prefix is precomputed per partition, and a payload that is JSON
// is checked on its bytes (json-check.ts) and copied, never parsed or re-serialized.
import { isUtf8 } from 'node:buffer';
import type { LogRecord, RecordHeader, RecordView } from '../../broker/log/record-batch.js';
import { isJsonText } from './json-check.js';

export interface NdjsonOptions {
  /** Always base64 values, even JSON or text ones (for an exact byte-for-byte copy). */
  forceBase64?: boolean;
}

const TIMESTAMP = Buffer.from(',"timestamp":');
const KEY = Buffer.from(',"key":');
const VALUE = Buffer.from(',"value":');
const HEADERS = Buffer.from(',"headers":[');
const END = Buffer.from(']}\n');
const AS_JSON = Buffer.from(',"valueEncoding":"json"');
const AS_STRING = Buffer.from(',"valueEncoding":"string"');
const NULL_VALUE = Buffer.from('null,"valueEncoding":null');
const NULL = Buffer.from('null');
/** The encoding of every one-byte field (header flags such as mqtt.qos): no work per record. */
const ONE_BYTE = Array.from({ length: 256 }, (_, b) => {
  const bytes = Buffer.from([b]);
  return Buffer.from(isUtf8(bytes) ? JSON.stringify(bytes.toString('utf8')) : `{"base64":"${bytes.toString('base64')}"}`);
});
/** "00" "01" … "99" as bytes. */
const DIGIT_PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/** A growable byte buffer: one allocation per chunk of records, not one per field. */
export class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(size = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** ASCII-only text (digits, precomputed JSON punctuation). */
  ascii(s: string): void {
    this.reserve(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  utf8(s: string): void {
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Precomputed bytes, copied by hand: faster than Buffer#set for the short pieces of a line. */
  piece(b: Buffer): void {
    this.reserve(b.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < b.length; i++) buf[pos++] = b[i]!;
    this.pos = pos;
  }

  /**
   * Bytes [start, end) of `src`. Short ranges (header values, small payloads) are copied by hand:
   * Buffer#copy's argument checks cost more than the copy below a few dozen bytes.
   */
  range(src: Buffer, start: number, end: number): void {
    const length = end - start;
    this.reserve(length);
    if (length > 64) {
      src.copy(this.buf, this.pos, start, end);
      this.pos += length;
      return;
    }
    const buf = this.buf;
    let pos = this.pos;
    for (let i = start; i < end; i++) buf[pos++] = src[i]!;
    this.pos = pos;
  }

  /**
   * A non-negative safe integer in decimal (offsets, timestamps), two digits at a time from a
   * table: String(n) per number showed up in profiles of the replay path.
   */
  integer(n: number): void {
    this.reserve(16);
    const buf = this.buf;
    if (n < 100) {
      if (n < 10) buf[this.pos++] = 0x30 + n;
      else {
        buf[this.pos++] = DIGIT_PAIRS[2 * n]!;
        buf[this.pos++] = DIGIT_PAIRS[2 * n + 1]!;
      }
      return;
    }
    let length = 2;
    for (let m = 100; m <= n && length < 16; m *= 10) length++;
    let pos = this.pos + length;
    this.pos = pos;
    let m = n;
    while (m >= 100) {
      const q = Math.floor(m / 100);
      const r = m - q * 100;
      buf[--pos] = DIGIT_PAIRS[2 * r + 1]!;
      buf[--pos] = DIGIT_PAIRS[2 * r]!;
      m = q;
    }
    if (m >= 10) {
      buf[--pos] = DIGIT_PAIRS[2 * m + 1]!;
      buf[--pos] = DIGIT_PAIRS[2 * m]!;
    } else {
      buf[--pos] = 0x30 + m;
    }
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  /** The bytes written so far, as a buffer of their own; the sink starts over. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}

export class NdjsonEncoder {
  private readonly prefixes = new Map<number, Buffer>();
  private readonly headerStarts = new Map<string, Buffer>();
  private readonly placeNames: Array<{ name: Buffer; start: Buffer }> = [];
  private readonly sink = new ByteSink();

  constructor(
    private readonly topic: string,
    private readonly options: NdjsonOptions = {},
  ) {}

  /** The lines of `records` (all from `partition`), newline-terminated, as one buffer. */
  encode(partition: number, records: readonly LogRecord[]): Buffer {
    const prefix = this.prefix(partition);
    const sink = this.sink;
    for (const r of records) {
      sink.piece(prefix);
      sink.integer(r.offset);
      sink.piece(TIMESTAMP);
      if (r.timestamp >= 0) sink.integer(r.timestamp);
      else sink.ascii(String(r.timestamp));
      sink.piece(KEY);
      writeBytesField(sink, r.key);
      sink.piece(VALUE);
      this.writeValue(r.value);
      sink.piece(HEADERS);
      this.writeHeaders(r.headers);
      sink.piece(END);
    }
    return sink.take();
  }

  private prefix(partition: number): Buffer {
    let prefix = this.prefixes.get(partition);
    if (prefix === undefined) {
      prefix = Buffer.from(`{"topic":${JSON.stringify(this.topic)},"partition":${partition},"offset":`);
      this.prefixes.set(partition, prefix);
    }
    return prefix;
  }

  /**
   * Appends the line of the record `view` describes inside `buf` (a stored batch) to the chunk
   * under way: the same line encode() writes, without a LogRecord. Collect with take().
   */
  appendView(partition: number, buf: Buffer, view: RecordView): void {
    const sink = this.sink;
    sink.piece(this.prefix(partition));
    sink.integer(view.offset);
    sink.piece(TIMESTAMP);
    if (view.timestamp >= 0) sink.integer(view.timestamp);
    else sink.ascii(String(view.timestamp));
    sink.piece(KEY);
    writeRangeField(sink, buf, view.keyStart, view.keyLength);
    sink.piece(VALUE);
    this.writeValueRange(buf, view.valueStart, view.valueLength);
    sink.piece(HEADERS);
    for (let h = 0; h < view.headerCount; h++) {
      if (h > 0) sink.byte(0x2c);
      sink.piece(this.headerStartAt(h, buf, view.headerNameStart[h]!, view.headerNameLength[h]!));
      writeRangeField(sink, buf, view.headerValueStart[h]!, view.headerValueLength[h]!);
      sink.byte(0x5d);
    }
    sink.piece(END);
  }

  /** The lines appended since the last take(). */
  take(): Buffer {
    return this.sink.take();
  }

  /** Where the chunk under way ends now: rewind() to it drops what was appended after. */
  mark(): number {
    return this.sink.pos;
  }

  rewind(mark: number): void {
    this.sink.pos = Math.min(mark, this.sink.pos);
  }

  /** `["name",` for the header name at [start, start+length) of `buf`, cached per place. */
  private headerStartAt(place: number, buf: Buffer, start: number, length: number): Buffer {
    const cached = this.placeNames[place];
    if (cached !== undefined && cached.name.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (cached.name[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached.start;
    }
    const name = Buffer.from(buf.subarray(start, start + length));
    const entry = { name, start: Buffer.from(`[${JSON.stringify(name.toString('utf8'))},`) };
    if (place < 16) this.placeNames[place] = entry;
    return entry.start;
  }

  private writeValueRange(buf: Buffer, start: number, length: number): void {
    const sink = this.sink;
    if (length === -1) return sink.piece(NULL_VALUE);
    if (!this.options.forceBase64 && isUtf8Range(buf, start, length)) {
      if (isJsonText(buf, start, start + length)) {
        const at = sink.pos;
        sink.range(buf, start, start + length);
        // In valid JSON a CR or LF can only be whitespace between tokens (see writeValue).
        for (let i = at; i < sink.pos; i++) {
          const b = sink.buf[i]!;
          if (b === NEWLINE || b === RETURN) sink.buf[i] = 0x20;
        }
        return sink.piece(AS_JSON);
      }
      writeJsonStringRange(sink, buf, start, length);
      return sink.piece(AS_STRING);
    }
    sink.ascii(`"${buf.toString('base64', start, start + length)}","valueEncoding":"base64"`);
  }

  private writeHeaders(headers: readonly RecordHeader[]): void {
    const sink = this.sink;
    for (let h = 0; h < headers.length; h++) {
      const header = headers[h]!;
      if (h > 0) sink.byte(0x2c);
      sink.piece(this.headerStart(header[0]));
      writeBytesField(sink, header[1]);
      sink.byte(0x5d);
    }
  }

  /** `["name",` for a header name, cached: a topic's records carry the same few names. */
  private headerStart(name: string): Buffer {
    let start = this.headerStarts.get(name);
    if (start === undefined) {
      start = Buffer.from(`[${JSON.stringify(name)},`);
      if (this.headerStarts.size < 1000) this.headerStarts.set(name, start);
    }
    return start;
  }

  private writeValue(value: Buffer | null): void {
    const sink = this.sink;
    if (value === null) return sink.piece(NULL_VALUE);
    if (!this.options.forceBase64 && isUtf8(value)) {
      if (isJsonText(value)) {
        const start = sink.pos;
        sink.bytes(value);
        // In valid JSON a CR or LF can only be whitespace between tokens (inside strings they
        // must be escaped), so blanking them keeps the value and the one-line framing.
        for (let i = start; i < sink.pos; i++) {
          const b = sink.buf[i]!;
          if (b === NEWLINE || b === RETURN) sink.buf[i] = 0x20;
        }
        return sink.piece(AS_JSON);
      }
      writeJsonString(sink, value);
      return sink.piece(AS_STRING);
    }
    sink.ascii(`"${value.toString('base64')}","valueEncoding":"base64"`);
  }
}

/** A key or header value: a JSON string when UTF-8, {"base64":…} when not, null when null. */
function writeBytesField(sink: ByteSink, bytes: Buffer | null): void {
  if (bytes === null) return sink.piece(NULL);
  if (bytes.length === 1) return sink.piece(ONE_BYTE[bytes[0]!]!);
  if (isUtf8(bytes)) return writeJsonString(sink, bytes);
  sink.ascii(`{"base64":"${bytes.toString('base64')}"}`);
}

/** UTF-8 `bytes` as a JSON string: copied when nothing needs escaping, else JSON.stringify. */
function writeJsonString(sink: ByteSink, bytes: Buffer): void {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 || b === QUOTE || b === BACKSLASH) return sink.utf8(JSON.stringify(bytes.toString('utf8')));
  }
  sink.reserve(bytes.length + 2);
  sink.buf[sink.pos++] = QUOTE;
  sink.buf.set(bytes, sink.pos);
  sink.pos += bytes.length;
  sink.buf[sink.pos++] = QUOTE;
}

/** Valid UTF-8? Pure ASCII, the usual case for telemetry, is decided without a native call or a view. */
function isUtf8Range(buf: Buffer, start: number, length: number): boolean {
  const end = start + length;
  for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return isUtf8(buf.subarray(start, end));
  return true;
}

/** writeBytesField for bytes [start, start+length) of `buf` (length -1: null). */
function writeRangeField(sink: ByteSink, buf: Buffer, start: number, length: number): void {
  if (length === -1) return sink.piece(NULL);
  if (length === 1) return sink.piece(ONE_BYTE[buf[start]!]!);
  if (isUtf8Range(buf, start, length)) return writeJsonStringRange(sink, buf, start, length);
  sink.ascii(`{"base64":"${buf.toString('base64', start, start + length)}"}`);
}

/** writeJsonString for bytes [start, start+length) of `buf`. */
function writeJsonStringRange(sink: ByteSink, buf: Buffer, start: number, length: number): void {
  const end = start + length;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b < 0x20 || b === QUOTE || b === BACKSLASH) return sink.utf8(JSON.stringify(buf.toString('utf8', start, end)));
  }
  sink.byte(QUOTE);
  sink.range(buf, start, end);
  sink.byte(QUOTE);
}
