// The replay's output formats behind one interface: a chunk of one partition's records in, bytes
// out. NDJSON (ndjson.ts) is the full-fidelity one; CSV is for spreadsheets; raw is the bare
// payloads, one per line, for text telemetry piped into other tools.
import { isUtf8 } from 'node:buffer';
import { UsageError } from '../../broker/errors.js';
import type { LogRecord } from '../../broker/log/record-batch.js';
import { NdjsonEncoder } from './ndjson.js';
import { isoTime } from './time.js';

export const FORMATS = ['ndjson', 'csv', 'raw'] as const;
export type Format = (typeof FORMATS)[number];

export interface RecordEncoder {
  /** Bytes before the first record (the CSV header line). */
  readonly head: Buffer;
  encode(partition: number, records: readonly LogRecord[]): Buffer;
}

export const CONTENT_TYPES: Record<Format, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  raw: 'application/octet-stream',
};

export function parseFormat(text: string | undefined, what: string): Format {
  if (text === undefined) return 'ndjson';
  if ((FORMATS as readonly string[]).includes(text)) return text as Format;
  throw new UsageError(`${what} must be one of ${FORMATS.join(', ')}, got '${text}'`);
}

export function createEncoder(format: Format, topic: string, options: { forceBase64?: boolean } = {}): RecordEncoder {
  switch (format) {
    case 'ndjson': {
      const ndjson = new NdjsonEncoder(topic, options);
      return { head: Buffer.alloc(0), encode: (partition, records) => ndjson.encode(partition, records) };
    }
    case 'csv':
      return new CsvEncoder(topic, options.forceBase64 === true);
    case 'raw':
      return { head: Buffer.alloc(0), encode: (_partition, records) => encodeRaw(records) };
  }
}

/**
 * RFC 4180 CSV: topic,partition,offset,timestamp,time,key,key_encoding,value,value_encoding,headers.
 * The *_encoding columns say "string" (UTF-8 text), "base64", or are empty for a null key/value;
 * headers is the NDJSON headers array as JSON.
 */
class CsvEncoder implements RecordEncoder {
  readonly head = Buffer.from('topic,partition,offset,timestamp,time,key,key_encoding,value,value_encoding,headers\r\n');

  constructor(
    private readonly topic: string,
    private readonly forceBase64: boolean,
  ) {}

  encode(partition: number, records: readonly LogRecord[]): Buffer {
    const topic = csvField(this.topic);
    const lines: string[] = [];
    for (const r of records) {
      const headers = JSON.stringify(r.headers.map(([name, v]) => [name, bytesJson(v)]));
      const [key, keyEncoding] = csvBytes(r.key, false);
      const [value, valueEncoding] = csvBytes(r.value, this.forceBase64);
      lines.push(`${topic},${partition},${r.offset},${r.timestamp},${isoTime(r.timestamp)},${key},${keyEncoding},${value},${valueEncoding},${csvField(headers)}\r\n`);
    }
    return Buffer.from(lines.join(''));
  }
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A CSV field and its encoding column for key or value bytes. */
function csvBytes(bytes: Buffer | null, forceBase64: boolean): [string, string] {
  if (bytes === null) return ['', ''];
  if (!forceBase64 && isUtf8(bytes)) return [csvField(bytes.toString('utf8')), 'string'];
  return [bytes.toString('base64'), 'base64'];
}

/** The NDJSON representation of key and header bytes: a string, {"base64":…} or null. */
export function bytesJson(bytes: Buffer | null): string | { base64: string } | null {
  if (bytes === null) return null;
  return isUtf8(bytes) ? bytes.toString('utf8') : { base64: bytes.toString('base64') };
}

function encodeRaw(records: readonly LogRecord[]): Buffer {
  const parts: Buffer[] = [];
  const newline = Buffer.from('\n');
  for (const r of records) {
    if (r.value !== null) parts.push(r.value);
    parts.push(newline);
  }
  return Buffer.concat(parts);
}
