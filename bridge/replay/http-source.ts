// The client of GET /api/topics/{topic}/records: opens the stream (a 4xx answer becomes the
// server's error, code and all) and hands over the body chunk by chunk with backpressure.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { UsageError } from '../../broker/errors.js';
import type { PartitionRange } from './range.js';

/** Response header carrying the resolved ranges as JSON: [{"partition":0,"from":0,"to":100}]. */
export const RANGES_HEADER = 'x-tributary-ranges';
/** HTTP trailer of a records stream that ended early: the error as JSON (every format). */
export const ERROR_TRAILER = 'x-tributary-error';
/** HTTP trailer listing the corrupt batches an onCorrupt=skip stream passed over, as JSON. */
export const SKIPPED_TRAILER = 'x-tributary-skipped';

/** An error the node answered with: its code and message, printed as the CLI prints its own. */
export class RemoteError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface RecordStream {
  ranges: PartitionRange[];
  body: IncomingMessage;
}

export function recordsUrl(base: string, topic: string, params: Record<string, string | undefined>): URL {
  const url = new URL(`/api/topics/${encodeURIComponent(topic)}/records`, base);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return url;
}

/**
 * The bearer token for a node whose API is not on loopback (http.token): --token, else the same
 * TRIBUTARY_HTTP_TOKEN the node itself is configured with.
 */
let bearerToken: string | null = null;
export function useToken(token: string | undefined): void {
  bearerToken = token ?? process.env.TRIBUTARY_HTTP_TOKEN ?? null;
}

/** Sends a request and resolves with the response once its status line arrived. */
export function send(url: URL, method = 'GET', body?: unknown): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  if (bearerToken !== null) headers.authorization = `Bearer ${bearerToken}`;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, resolve);
    req.on('error', (err) =>
      reject(new UsageError(`cannot reach a Tributary node at ${url.origin} (${(err as NodeJS.ErrnoException).code ?? err.message}); is it running? For a stopped node use --data-dir`)),
    );
    req.end(payload);
  });
}

/** The parsed JSON body of a response; a non-2xx status becomes a RemoteError. */
export async function jsonBody(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RemoteError('TRIB_HTTP_INTERNAL', `the node answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`, res.statusCode ?? 0);
  }
  if ((res.statusCode ?? 500) >= 300) {
    const { code, message } = body as { code?: string; message?: string };
    throw new RemoteError(code ?? 'TRIB_HTTP_INTERNAL', message ?? `HTTP ${res.statusCode}`, res.statusCode ?? 0);
  }
  return body;
}

export async function openRecordStream(url: URL): Promise<RecordStream> {
  const res = await send(url);
  if (res.statusCode !== 200) {
    await jsonBody(res);
    throw new RemoteError('TRIB_HTTP_INTERNAL', `unexpected HTTP ${res.statusCode}`, res.statusCode ?? 0);
  }
  const ranges = JSON.parse(String(res.headers[RANGES_HEADER] ?? '[]')) as PartitionRange[];
  return { ranges, body: res };
}
