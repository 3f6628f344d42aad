// The CLI's client of a running node's HTTP API (topics, readers, records streams). One object per
// command, configured where the command starts: the node's URL and the bearer token (--token,
// else TRIBUTARY_HTTP_TOKEN as bridge/cli.ts read it). A non-2xx answer becomes the node's error,
// code and all; a records stream is handed over chunk by chunk with backpressure.
//
// A cluster's nodes (docs/replication.md): --url takes a comma-separated list. A request goes to the
// node that answered last (the first at start); when that node cannot be reached, the next is
// tried, round-robin, each once. A write (POST, DELETE) that a follower refuses with 503 and a
// role other than leader goes to the next node too: only the leader takes writes. Reads are served
// by any node, up to its high watermark.
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

/** `a,b,c` -> its URLs; each must be http:// or https://. */
export function parseNodeUrls(list: string): string[] {
  const urls = list.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) throw new UsageError('--url is empty');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new UsageError(`--url must be a node's HTTP API like http://host:8080 (several: comma-separated), got '${u}'`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url must be http:// or https://, got '${u}'`);
  }
  return urls;
}

export class NodeClient {
  /** Every node's API, in the order given. */
  readonly bases: readonly string[];
  /** The node that answered last: requests go there first. */
  #current = 0;

  /**
   * `urls`: one node's API, or several comma-separated (a cluster). `token`: the bearer token of a
   * node whose API is not on loopback (http.token); null sends none.
   */
  constructor(
    urls: string | undefined,
    private readonly token: string | null,
  ) {
    this.bases = urls === undefined ? [DEFAULT_NODE_URL] : parseNodeUrls(urls);
  }

  /** The node requests go to now. */
  get base(): string {
    return this.bases[this.#current]!;
  }

  /** The API's URL of `path` on `base` (with the query parameters that are set). */
  private url(base: string, path: string, params: Record<string, string | undefined> = {}): URL {
    const url = new URL(path, base);
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
    return url;
  }

  /**
   * Sends a request to the current node, else to the next that can be reached, and resolves with
   * the response once its status line arrived. `skip`: nodes already known to refuse it.
   */
  private async send(path: string, params: Record<string, string | undefined>, method = 'GET', body?: unknown, skip = 0): Promise<IncomingMessage> {
    const failures: string[] = [];
    for (let tried = skip; tried < this.bases.length; tried++) {
      const at = (this.#current + tried - skip) % this.bases.length;
      try {
        const res = await this.sendTo(this.url(this.bases[at]!, path, params), method, body);
        this.#current = at;
        return res;
      } catch (err) {
        failures.push(`${new URL(this.bases[at]!).origin} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    const which = failures.length === 1 ? `a Tributary node at ${failures[0]}` : `any of the Tributary nodes at ${failures.join(', ')}`;
    throw new UsageError(`cannot reach ${which}; is it running? For a stopped node use --data-dir`);
  }

  private sendTo(url: URL, method: string, body?: unknown): Promise<IncomingMessage> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, resolve);
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Sends a request and returns its JSON answer; a non-2xx status becomes a RemoteError. A write
   * refused by a follower (503, role not leader) is sent to the next node, each node once.
   */
  async json(path: string, method = 'GET', body?: unknown): Promise<unknown> {
    const write = method !== 'GET' && method !== 'HEAD';
    for (let refused = 0; ; refused++) {
      const answer = await readJson(await this.send(path, {}, method, body, refused));
      const last = refused + 1 >= this.bases.length;
      if (write && !last && refusedByFollower(answer)) {
        this.#current = (this.#current + 1) % this.bases.length;
        continue;
      }
      return checked(answer);
    }
  }

  /** Opens GET /api/topics/{topic}/records with `params`; a refused request becomes a RemoteError. */
  async openRecordStream(topic: string, params: Record<string, string | undefined>): Promise<RecordStream> {
    const res = await this.send(`/api/topics/${encodeURIComponent(topic)}/records`, params);
    if (res.statusCode !== 200) {
      checked(await readJson(res));
      throw new RemoteError('TRIB_HTTP_INTERNAL', `unexpected HTTP ${res.statusCode}`, res.statusCode ?? 0);
    }
    const ranges = JSON.parse(String(res.headers[RANGES_HEADER] ?? '[]')) as PartitionRange[];
    return { ranges, body: res };
  }
}

interface JsonAnswer {
  status: number;
  body: unknown;
  text: string;
}

async function readJson(res: IncomingMessage): Promise<JsonAnswer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // reported by checked()
  }
  return { status: res.statusCode ?? 500, body, text };
}

/** 503 with a role that is not leader: a cluster's follower (docs/replication.md, "Clients"). */
function refusedByFollower(answer: JsonAnswer): boolean {
  if (answer.status !== 503 || typeof answer.body !== 'object' || answer.body === null) return false;
  const { role, code } = answer.body as { role?: unknown; code?: unknown };
  return (typeof role === 'string' && role !== 'leader') || (typeof code === 'string' && code.includes('NOT_LEADER'));
}

/** The parsed JSON body of an answer; a non-2xx status becomes a RemoteError. */
function checked(answer: JsonAnswer): unknown {
  if (answer.body === undefined) {
    throw new RemoteError('TRIB_HTTP_INTERNAL', `the node answered ${answer.status} with a body that is not JSON: ${answer.text.slice(0, 200)}`, answer.status);
  }
  if (answer.status >= 300) {
    const { code, message } = answer.body as { code?: string; message?: string };
    throw new RemoteError(code ?? 'TRIB_HTTP_INTERNAL', message ?? `HTTP ${answer.status}`, answer.status);
  }
  return answer.body;
}
