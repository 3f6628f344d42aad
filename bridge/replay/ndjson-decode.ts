// The client side of the NDJSON format (ndjson.ts): turning lines back into records, exactly
// (values must have been requested with base64, the only encoding that keeps every byte), and
// reading just the partition and offset of a line without parsing the rest of it.
import { UsageError } from '../../broker/errors.js';
import type { LogRecord, RecordHeader } from '../../broker/log/record-batch.js';

interface Line {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | { base64: string } | null;
  value: unknown;
  valueEncoding: 'json' | 'string' | 'base64' | null;
  headers: Array<[string, string | { base64: string } | null]>;
}

export interface DecodedRecord {
  partition: number;
  record: LogRecord;
}

/** A record from one NDJSON line; the value's bytes are rebuilt from its encoding. */
export function decodeLine(line: string): DecodedRecord {
  const l = JSON.parse(line) as Line;
  return {
    partition: l.partition,
    record: {
      offset: l.offset,
      timestamp: l.timestamp,
      key: fieldBytes(l.key),
      value: valueBytes(l.value, l.valueEncoding),
      headers: l.headers.map(([name, v]): RecordHeader => [name, fieldBytes(v)]),
    },
  };
}

function fieldBytes(v: string | { base64: string } | null): Buffer | null {
  if (v === null) return null;
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.base64, 'base64');
}

function valueBytes(value: unknown, encoding: Line['valueEncoding']): Buffer | null {
  switch (encoding) {
    case null:
      return null;
    case 'base64':
      return Buffer.from(value as string, 'base64');
    case 'string':
      return Buffer.from(value as string, 'utf8');
    case 'json':
      // Re-serialised: the same JSON value, though not always the same bytes (spacing, 1.0 -> 1).
      return Buffer.from(JSON.stringify(value), 'utf8');
    default:
      throw new UsageError(`unknown valueEncoding '${String(encoding)}' in a record line`);
  }
}

/**
 * Reads `"partition":P,"offset":N` at the start of a line without parsing it: every line starts
 * with `{"topic":<topic>,"partition":`, whose length is known for the topic.
 */
export class LinePositionReader {
  private readonly skip: number;

  constructor(topic: string) {
    this.skip = Buffer.byteLength(`{"topic":${JSON.stringify(topic)},"partition":`);
  }

  /** [partition, offset] of the line starting at `start` in `buf`. */
  read(buf: Buffer, start: number): [number, number] {
    let pos = start + this.skip;
    let partition = 0;
    for (let b = buf[pos]!; b >= 0x30 && b <= 0x39; b = buf[++pos]!) partition = partition * 10 + (b - 0x30);
    pos += 10; // ,"offset":
    let offset = 0;
    for (let b = buf[pos]!; b >= 0x30 && b <= 0x39; b = buf[++pos]!) offset = offset * 10 + (b - 0x30);
    return [partition, offset];
  }
}
