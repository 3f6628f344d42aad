// One request frame in, one response frame out: reads the header, finds the API, checks the
// version, runs the handler. A version or API we do not serve is answered, never dropped: an
// ApiVersions request with UNSUPPORTED_VERSION and our ranges (KIP-511), anything else with a
// response holding only the correlation id and UNSUPPORTED_VERSION, since its layout is unknown
// to us (Kafka's broker closes the connection there; an answer lets the client name the cause).
import { isFlexible, type ApiHandler, type RequestContext } from './apis/api.js';
import { API_VERSIONS_KEY, unsupportedApiVersions } from './apis/api-versions.js';
import { UnauthenticatedRequestError } from './errors.js';
import { ErrorCode } from './protocol/error-codes.js';
import { readRequestHeader, responseFrame, type RequestHeader } from './protocol/header.js';
import { Reader } from './protocol/reader.js';
import { Writer } from './protocol/writer.js';

export type ConnectionContext = Omit<RequestContext, 'clientId' | 'authorize'>;

export interface Answer {
  header: RequestHeader;
  /** The response frame's pieces, size prefix first; null: the request expects no response (Produce with acks 0). */
  frame: Buffer[] | null;
  /** The API and version were not served. */
  unsupported: boolean;
}

/** Answers one request frame (without its size prefix). Throws MalformedRequestError for bytes that do not parse. */
export async function answer(bytes: Buffer, apis: ReadonlyMap<number, ApiHandler>, context: ConnectionContext, onHeader?: (header: RequestHeader) => void): Promise<Answer> {
  const request = new Reader(bytes);
  const header = readRequestHeader(request);
  onHeader?.(header);
  // Kafka's broker closes a connection whose request comes before the SASL exchange it requires.
  if (!context.session.mayServe(header.apiKey)) throw new UnauthenticatedRequestError(header.apiKey);
  const api = apis.get(header.apiKey);
  if (api === undefined || header.apiVersion < api.minVersion || header.apiVersion > api.maxVersion) {
    const body = header.apiKey === API_VERSIONS_KEY ? unsupportedApiVersions(context.apis) : new Writer().int16(ErrorCode.UNSUPPORTED_VERSION);
    return { header, frame: responseFrame(header.correlationId, false, body), unsupported: true };
  }
  const flexible = isFlexible(api, header.apiVersion);
  if (flexible) request.taggedFields(); // request header v2
  const { session } = context;
  const body = await api.handle(request, header.apiVersion, { ...context, clientId: header.clientId, authorize: (operation, topic) => session.authorize(operation, topic) });
  const frame = body === null ? null : responseFrame(header.correlationId, flexible && api.plainResponseHeader !== true, body);
  return { header, frame, unsupported: false };
}
