// The HTTP routes' fuzzer: random methods, paths, query strings, headers and bodies against a
// running node, most as well-formed HTTP (node:http) and some as raw bytes on a socket. Every answer
// must be a whole HTTP response, within a deadline; a non-2xx one carries a JSON body with a TRIB_*
// code; bad input never gets 500 (TRIB_HTTP_INTERNAL: an exception the routes did not expect).
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { FuzzFinding, Rng } from './fuzz.js';
import { PATIENCE_MS } from './wait-for.js';

export interface HttpFuzzTarget {
  port: number;
  /** http.token of the node, sent in most requests; null when the node has none. */
  token: string | null;
  /** A topic that exists, with records. */
  topic: string;
}

export interface HttpFuzzTally {
  requests: number;
  raw: number;
  byStatus: Record<string, number>;
}

/** How long the node may take to answer before its silence is a finding: a hang, not a loaded machine. */
const DEADLINE_MS = PATIENCE_MS;
const SEGMENTS = ['api', 'topics', 'records', 'readers', 'positions', 'healthz', 'readyz', 'metrics', 'overview', 'upstream', 'index.html', '', '.', '..', '%', '%zz', '%2F', '%00', '%C3%A9', '%FF', 'é', 'a'.repeat(300), 'nope', 'reader-1', '__proto__', 'constructor', '-', '~'];
const ROUTES = ['/', '/index.html', '/healthz', '/readyz', '/metrics', '/api/topics', '/api/overview', '/api/upstream', '/api/readers', '/api/topics/{t}', '/api/topics/{t}/records', '/api/readers/{r}/positions', '/api/readers/{r}'];
const PARAMS = ['partition', 'from-offset', 'from-time', 'to-offset', 'to-time', 'key', 'reader', 'format', 'base64', 'x', '', 'from-offset '];
const VALUES = ['0', '1', '2', '-1', '3', '99999999999999999999', '1e3', '0x10', '1.5', '', ' ', 'NaN', 'now', '-1h', '-0s', '-99999999w', '9999999999999999s', '1ms', '2026-02-30', '2026-01-01T00:00:00', '2026-01-01T00:00:00+25:00', 'ndjson', 'csv', 'raw', 'xml', 'true', 'false', 'mqtt', 'reader-1', 'upstream', 'a/b/#', '%', 'é', '\u0000', 'x'.repeat(500)];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'FOO'];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/jsonx'];

function encodeSegment(rng: Rng, s: string): string {
  return rng.chance(0.7) ? encodeURIComponent(s) : s.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}

function path(rng: Rng, target: HttpFuzzTarget): string {
  let p: string;
  if (rng.chance(0.75)) {
    p = rng.pick(ROUTES).replace('{t}', encodeSegment(rng, rng.chance(0.6) ? target.topic : rng.pick(SEGMENTS))).replace('{r}', encodeSegment(rng, rng.chance(0.5) ? 'reader-1' : rng.pick(SEGMENTS)));
  } else {
    p = '';
    for (let i = 0, n = 1 + rng.int(5); i < n; i++) p += `/${rng.chance(0.8) ? rng.pick(SEGMENTS) : encodeSegment(rng, rng.text(12))}`;
  }
  if (rng.chance(0.1)) p = p.replace(/^\//, rng.pick(['//', '/./', 'http://x/', '*', '']));
  if (rng.chance(0.6)) {
    const pairs: string[] = [];
    for (let i = 0, n = rng.int(5); i < n; i++) {
      const name = rng.chance(0.85) ? rng.pick(PARAMS) : rng.text(6);
      const value = rng.chance(0.85) ? rng.pick(VALUES) : rng.text(10);
      pairs.push(rng.chance(0.1) ? encodeSegment(rng, name) : `${encodeSegment(rng, name)}=${encodeSegment(rng, value)}`);
    }
    p += `?${pairs.join(rng.chance(0.9) ? '&' : ';')}`;
  }
  return p;
}

function body(rng: Rng, topic: string): Buffer | null {
  if (rng.chance(0.4)) return null;
  const positions = (): unknown => rng.pick([[{ partition: 0, nextOffset: rng.int(10) }], [], [null], [1], [{ partition: '0', nextOffset: 1 }], [{ partition: 0, nextOffset: 2 ** 60 }], [{ partition: 7, nextOffset: 0 }], [{}], [[0, 1]], 'all', null, {}]);
  const json = rng.pick<unknown>([{ topic, positions: positions() }, { topic: rng.pick([topic, 'nope', 1, null, '']), positions: positions() }, null, [], 'x', 1, true, {}, { positions: positions() }, { topic, positions: positions(), extra: 1 }, { __proto__: { topic } }]);
  const text = rng.chance(0.8) ? JSON.stringify(json) : rng.pick(['{', '{"topic":', 'null', '', '\u0000', `{"topic":"${topic}","positions":[${'{"partition":0,"nextOffset":0},'.repeat(3000)}{}]}`]);
  return rng.chance(0.02) ? Buffer.alloc(70 * 1024, 0x20) : Buffer.from(rng.chance(0.05) ? text.slice(0, rng.int(text.length)) : text);
}

function headers(rng: Rng, target: HttpFuzzTarget, payload: Buffer | null): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {};
  if (target.token !== null && rng.chance(0.8)) h.authorization = rng.chance(0.9) ? `Bearer ${target.token}` : rng.pick([`bearer ${target.token}`, `Bearer ${target.token}x`, 'Bearer', 'Basic dXNlcjpwYXNz', `Bearer  ${target.token}`, '']);
  if (payload !== null || rng.chance(0.2)) h['content-type'] = rng.chance(0.5) ? 'application/json' : rng.pick(CONTENT_TYPES);
  // Node's client frames a GET's or DELETE's body only when told its length (else the body would
  // read as the next request: a malformed one, answered by the parser).
  if (payload !== null) h['content-length'] = payload.length;
  if (rng.chance(0.2)) h.accept = rng.pick(['*/*', 'application/json', 'text/csv', 'x']);
  if (rng.chance(0.1)) h[rng.pick(['x-forwarded-for', 'origin', 'range', 'if-none-match', 'expect', 'cookie'])] = rng.pick(['1', 'bytes=0-1', '100-continue', 'http://evil.example', 'x'.repeat(200)]);
  return h;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(port: number, method: string, p: string, h: OutgoingHttpHeaders, payload: Buffer | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: p, headers: h, agent: false, timeout: DEADLINE_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no complete answer within ${DEADLINE_MS / 1000} s`)));
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

/** Malformed HTTP on a socket: the server may answer 4xx or close, but must not hang or die. */
function rawRequest(rng: Rng, port: number, p: string): { bytes: Buffer; done: Promise<Buffer> } {
  const line = rng.pick([`GET ${p} HTTP/1.1`, `GET ${p}`, `GET  ${p} HTTP/1.1`, `GET ${p} HTTP/9.9`, `${rng.text(5)} ${p} HTTP/1.1`, 'GET', '', `GET ${p} HTTP/1.1\r\nHost`]);
  const head = [line, 'Host: x', ...Array.from({ length: rng.int(4) }, () => rng.pick(['Content-Length: 10', 'Content-Length: -1', 'Content-Length: 1, 2', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip', 'X: \u0000', 'NoColon', ': empty', `X-Long: ${'a'.repeat(rng.int(20_000))}`, 'Content-Type: application/json']))];
  let bytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`);
  if (rng.chance(0.5)) bytes = Buffer.concat([bytes, rng.chance(0.5) ? Buffer.from('5\r\nhello\r\n0\r\n\r\n') : rng.bytes(rng.int(64))]);
  if (rng.chance(0.3)) for (let i = 0, n = 1 + rng.int(3); i < n; i++) bytes[rng.int(bytes.length)] = rng.int(256);
  const done = new Promise<Buffer>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the connection neither answered nor closed within ${DEADLINE_MS / 1000} s`));
    }, DEADLINE_MS);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset is a close
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.end(bytes); // our side is done: the server answers what it has, then closes
  });
  return { bytes, done };
}

/**
 * A request Node's HTTP parser refuses before any route sees it: a method it does not know, a
 * request target that is not a path or an absolute URL. Node answers those itself with a bodiless
 * 400 and closes (the server installs no 'clientError' handler that would answer in JSON).
 */
const refusedByParser = (method: string, p: string, payload: Buffer | null): boolean =>
  !METHODS_NODE_KNOWS.has(method) || !/^(\/|http:\/\/)/.test(p) || /[^\x21-\x7e]/.test(p) || (method === 'TRACE' && payload !== null);
const METHODS_NODE_KNOWS = new Set(['GET', 'POST', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE']);
const isParserRefusal = (a: Answer): boolean => a.status === 400 && a.body.length === 0 && a.headers.connection === 'close';
/** An Expect header other than 100-continue: Node answers 417 itself, without a body. */
const refusedExpectation = (h: OutgoingHttpHeaders, a: Answer): boolean =>
  h.expect !== undefined && String(h.expect).toLowerCase() !== '100-continue' && a.status === 417 && a.body.length === 0;

/** What is wrong with an answer to a request, or null. */
function problemWith(method: string, p: string, h: OutgoingHttpHeaders, payload: Buffer | null, a: Answer): string | null {
  if (a.status < 100 || a.status > 599) return `status ${a.status}`;
  if (refusedExpectation(h, a)) return null;
  if (refusedByParser(method, p, payload)) return isParserRefusal(a) || a.status < 500 ? null : `status ${a.status}`;
  if (a.status >= 500 && a.status !== 503) return `status ${a.status}: ${a.body.toString('utf8', 0, 500)}`;
  if (method === 'HEAD') return null;
  const json = (a.headers['content-type'] ?? '').startsWith('application/json');
  if (a.status >= 200 && a.status < 300) {
    if (!json) return null;
    try {
      JSON.parse(a.body.toString('utf8'));
      return null;
    } catch {
      return `a 2xx JSON body that does not parse: ${a.body.toString('utf8', 0, 300)}`;
    }
  }
  if (!json) return `status ${a.status} without a JSON body (content-type ${a.headers['content-type']})`;
  let error: { code?: unknown; message?: unknown; status?: unknown };
  try {
    error = JSON.parse(a.body.toString('utf8')) as typeof error;
  } catch {
    return `status ${a.status} with a body that is not JSON: ${a.body.toString('utf8', 0, 300)}`;
  }
  if (a.status === 503 && error.status === 'starting') return null; // /readyz while starting
  if (typeof error.code !== 'string' || !/^TRIB_[A-Z0-9_]+$/.test(error.code)) return `status ${a.status} without a TRIB_* code: ${a.body.toString('utf8', 0, 300)}`;
  if (typeof error.message !== 'string' || error.message === '') return `status ${a.status} without a message`;
  return null;
}

/** What is wrong with the bytes a raw request got back, or null: nothing, or whole HTTP responses. */
function rawProblem(answer: Buffer): string | null {
  if (answer.length === 0) return null;
  const text = answer.toString('latin1');
  if (!/^HTTP\/1\.[01] [1-5]\d\d /.test(text)) return `an answer that is not HTTP: ${JSON.stringify(text.slice(0, 200))}`;
  const status = Number(text.slice(9, 12));
  if (status >= 500) return `status ${status} to malformed input: ${JSON.stringify(text.slice(0, 300))}`;
  return null;
}

/** Runs cases [from, from + count) of the run with `seed`, `concurrency` at a time. Throws the first finding. */
export async function fuzzHttp(seed: number, from: number, count: number, target: HttpFuzzTarget, concurrency = 4): Promise<HttpFuzzTally> {
  const tally: HttpFuzzTally = { requests: 0, raw: 0, byStatus: {} };
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < from + count) {
      const i = next++;
      const rng = Rng.forCase(seed, i);
      const p = path(rng, target);
      if (rng.chance(0.08)) {
        const { bytes, done } = rawRequest(rng, target.port, p);
        const input = JSON.stringify(bytes.toString('latin1').slice(0, 2000));
        let answer: Buffer;
        try {
          answer = await done;
        } catch (err) {
          throw new FuzzFinding('http', seed, i, (err as Error).message, input);
        }
        const problem = rawProblem(answer);
        if (problem !== null) throw new FuzzFinding('http', seed, i, problem, input);
        tally.raw++;
        continue;
      }
      // The one route that takes a body gets one, as JSON, most of the time.
      const commits = p.includes('/positions');
      const method = commits && rng.chance(0.8) ? 'POST' : rng.pick(METHODS);
      const payload = commits && rng.chance(0.9) ? (body(rng, target.topic) ?? Buffer.from('{}')) : body(rng, target.topic);
      const h = headers(rng, target, payload);
      const input = `${method} ${p} ${JSON.stringify(h)} body ${payload === null ? '(none)' : JSON.stringify(payload.toString('utf8').slice(0, 500))}`;
      let answer: Answer;
      try {
        answer = await send(target.port, method, p, h, payload);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // The client refused to send it (a path with a character HTTP forbids): not the server's doing.
        if (code === 'ERR_UNESCAPED_CHARACTERS' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_HTTP_TOKEN') continue;
        // The server may close a connection whose body it refuses (over the size limit) before reading it all.
        if ((code === 'EPIPE' || code === 'ECONNRESET') && payload !== null && payload.length > 64 * 1024) continue;
        throw new FuzzFinding('http', seed, i, `no answer: ${(err as Error).message}`, input);
      }
      const problem = problemWith(method, p, h, payload, answer);
      if (problem !== null) throw new FuzzFinding('http', seed, i, problem, input);
      tally.requests++;
      tally.byStatus[answer.status] = (tally.byStatus[answer.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tally;
}
