// Request and response headers (RequestHeader.json, ResponseHeader.json in apache/kafka).
//
//   Request header v1 => request_api_key request_api_version correlation_id client_id
//     request_api_key => INT16
//     request_api_version => INT16
//     correlation_id => INT32
//     client_id => NULLABLE_STRING       (int16 length even in v2: "flexibleVersions": "none")
//   Request header v2 => v1 TAG_BUFFER    (the header of every flexible request version)
//   (v0, without client_id, is only used by ControlledShutdown v0, which we do not serve.)
//
//   Response header v0 => correlation_id INT32
//   Response header v1 => correlation_id TAG_BUFFER   (flexible versions, except ApiVersions:
//                                                      its response header stays v0 in every version)
import type { Reader } from './reader.js';
import { Writer } from './writer.js';

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/**
 * Reads the fields every request header v1 and v2 shares. The tagged fields of v2 are left to the
 * caller, which knows from the API key and version whether the header has them: an ApiVersions
 * request of a version we do not know must still get its answer (KIP-511).
 */
export function readRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const clientId = r.nullableString(false);
  return { apiKey, apiVersion, correlationId, clientId };
}

/**
 * A whole response frame: the int32 size, the header (v1 when `flexibleHeader`) and the body's
 * chunks, which are not copied.
 */
export function responseFrame(correlationId: number, flexibleHeader: boolean, body: Writer): Buffer[] {
  const head = new Writer();
  const headerBytes = flexibleHeader ? 5 : 4;
  head.int32(headerBytes + body.length).int32(correlationId);
  if (flexibleHeader) head.taggedFields();
  return [...head.chunks(), ...body.chunks()];
}
