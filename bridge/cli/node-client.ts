// The CLI's client of a running node's HTTP API (topics, readers, records streams). One object per
// command, configured where the command starts: the node's URL and the bearer token (--token,
// else TRIBUTARY_HTTP_TOKEN as bridge/cli.ts read it). A non-2xx answer becomes the node's error,
// code and all; a records stream is handed over chunk by chunk with backpressure.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { UsageError } from '../../broker/errors.js';
import type { PartitionRange } from '../replay/range.js';
import { RANGES_HEADER } from '../shared/records-protocol.js';

/** The node's API when --url is not given: a node started with the defaults. */
export const DEFAULT_NODE_URL = 'http://127.0.0.1:8080';

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

/** What the commands take from the environment, read once by bridge/cli.ts. */
export interface CliEnvironment {
  /** TRIBUTARY_HTTP_TOKEN: the same token the node itself may be configured with (http.token). */
  httpToken: string | null;
}

/** The client a command's --url and --token name: --token, else the environment's token. */
export function nodeClient(flags: { url?: string; token?: string }, env: CliEnvironment): NodeClient {
  return new NodeClient(flags.url, flags.token ?? env.httpToken);
}

export class NodeClient {
  readonly base: string;

  /**
   * `token`: the bearer token of a node whose API is not on loopback (http.token); null sends
   * none.
   */
  constructor(
    base: string | undefined,
    private readonly token: string | null,
  ) {
    this.base = base ?? DEFAULT_NODE_URL;
  }

  /** The API's URL of `path` (with the query parameters that are set). */
  private url(path: string, params: Record<string, string | undefined> = {}): URL {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
    return url;
  }

  /** Sends a request and resolves with the response once its status line arrived. */
  private send(url: URL, method = 'GET', body?: unknown): Promise<IncomingMessage> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, resolve);
      req.on('error', (err) =>
        reject(new UsageError(`cannot reach a Tributary node at ${url.origin} (${(err as NodeJS.ErrnoException).code ?? err.message}); is it running? For a stopped node use --data-dir`)),
      );
      req.end(payload);
    });
  }

  /** Sends a request and returns its JSON answer; a non-2xx status becomes a RemoteError. */
  async json(path: string, method = 'GET', body?: unknown): Promise<unknown> {
    return jsonBody(await this.send(this.url(path), method, body));
  }

  /** Opens GET /api/topics/{topic}/records with `params`; a refused request becomes a RemoteError. */
  async openRecordStream(topic: string, params: Record<string, string | undefined>): Promise<RecordStream> {
    const res = await this.send(this.url(`/api/topics/${encodeURIComponent(topic)}/records`, params));
    if (res.statusCode !== 200) {
      await jsonBody(res);
      throw new RemoteError('TRIB_HTTP_INTERNAL', `unexpected HTTP ${res.statusCode}`, res.statusCode ?? 0);
    }
    const ranges = JSON.parse(String(res.headers[RANGES_HEADER] ?? '[]')) as PartitionRange[];
    return { ranges, body: res };
  }
}

/** The parsed JSON body of a response; a non-2xx status becomes a RemoteError. */
async function jsonBody(res: IncomingMessage): Promise<unknown> {
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
