// ApiVersions (key 18), versions 0-4: which APIs and versions this endpoint serves
// (ApiVersionsRequest.json / ApiVersionsResponse.json; KIP-35, KIP-511).
//
//   ApiVersions Request (v0-v2) => (empty)
//   ApiVersions Request (v3-v4) => client_software_name client_software_version TAG_BUFFER
//     client_software_name => COMPACT_STRING
//     client_software_version => COMPACT_STRING
//
//   ApiVersions Response (v0) => error_code [api_keys]
//   ApiVersions Response (v1-v2) => error_code [api_keys] throttle_time_ms
//   ApiVersions Response (v3-v4) => error_code [api_keys] throttle_time_ms TAG_BUFFER
//     error_code => INT16
//     api_keys => api_key min_version max_version (TAG_BUFFER in v3+)
//       api_key, min_version, max_version => INT16
//     throttle_time_ms => INT32
//   (the v3+ tagged fields SupportedFeatures, FinalizedFeatures...: none sent)
//
// The response header is v0 in every version. A client that asks a version above ours gets
// UNSUPPORTED_VERSION with our ranges in a v0 body and downgrades (KIP-511): see
// unsupportedApiVersions, which the server calls without reading the request's body.
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';

export const API_VERSIONS_KEY = 18;

export const apiVersions: ApiHandler = {
  key: API_VERSIONS_KEY,
  name: 'ApiVersions',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 3,
  plainResponseHeader: true,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    if (flexible) {
      request.string(true); // client software name and version: only logged by Kafka, not used here
      request.string(true);
      request.taggedFields();
    }
    return writeApiVersions(new Writer(), version, flexible, ErrorCode.NONE, context.apis);
  },
};

/** The answer to an ApiVersions request of a version above ours: UNSUPPORTED_VERSION and our ranges, in a v0 body. */
export function unsupportedApiVersions(apis: readonly ApiHandler[]): Writer {
  return writeApiVersions(new Writer(), 0, false, ErrorCode.UNSUPPORTED_VERSION, apis);
}

function writeApiVersions(w: Writer, version: number, flexible: boolean, error: number, apis: readonly ApiHandler[]): Writer {
  w.int16(error);
  w.array([...apis].sort((a, b) => a.key - b.key), flexible, (w, api) => {
    w.int16(api.key).int16(api.minVersion).int16(api.maxVersion);
    if (flexible) w.taggedFields();
  });
  if (version >= 1) w.int32(0);
  if (flexible) w.taggedFields();
  return w;
}
