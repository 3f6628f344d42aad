// Field helpers the group APIs share: BYTES / COMPACT_BYTES (member metadata and assignments), and
// the client's address as DescribeGroups shows it.
import { MalformedRequestError } from '../errors.js';
import type { Reader } from '../protocol/reader.js';
import type { Writer } from '../protocol/writer.js';
import type { RequestContext } from './api.js';

/** BYTES (int32 length) or COMPACT_BYTES (flexible), not nullable. */
export function readBytes(r: Reader, flexible: boolean): Buffer {
  const v = r.nullableBytes(flexible);
  if (v === null) throw new MalformedRequestError('null bytes where the field is not nullable');
  return Buffer.from(v); // a copy: kept beyond the request (member metadata, assignments)
}

export function writeBytes(w: Writer, v: Buffer, flexible: boolean): Writer {
  if (flexible) w.uvarint(v.length + 1);
  else w.int32(v.length);
  return w.bytes(v);
}

/** The client's address as Kafka shows it in DescribeGroups ("/127.0.0.1"). */
export function clientHostOf(context: RequestContext): string {
  return `/${context.clientHost}`;
}
