// The replay side of the HTTP API:
//   GET    /api/topics/{topic}                 partitions with offsets, bytes
//   GET    /api/topics/{topic}/records?...     the records as a stream (NDJSON, CSV or raw)
//   GET    /api/readers                        named readers' positions and lag
//   POST   /api/readers/{name}/positions       a reader commits what it has processed
//   DELETE /api/readers/{name}                 forget a reader
//
// Streaming reads the log in bounded chunks and writes one chunk at a time: when res.write()
// reports a full socket it waits for 'drain', so a slow client holds the read back instead of
// making the server buffer the range; a client that disconnects ends the read at the next chunk.
//
// A stored batch that fails its checks (docs/replay.md, "Corrupt batches"): a read that starts at
// it gets an error status and the JSON error (the first chunk is read before the status line is
// sent). Met mid-stream, every good record before it has been written; the stream then ends with
// the error in-band (NDJSON: a last line {"error":{...}}) and in the HTTP trailer
// x-tributary-error (every format), and a clean end of the chunked body. With onCorrupt=skip the
// batch is passed over and reported ({"skipped":{...}} lines, trailer x-tributary-skipped).
//
// A named reader's position is never moved by the stream itself: bytes the server wrote may still
// sit in socket buffers or in a client that dies before using them. The client commits (POST
// positions) what it has processed, so a consumer that dies mid-stream loses nothing; it re-reads
// from its last commit (at-least-once). See docs/replay.md.
//
// What is read and how requests are checked is the replay part's (a RecordsReader, ports.ts);
// this file is the HTTP of it: paths, methods, bodies, streaming, trailers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CorruptBatchError, UsageError } from '../../broker/errors.js';
import type { Logger } from '../logger.js';
import { ERROR_TRAILER, RANGES_HEADER, SKIPPED_TRAILER } from '../shared/records-protocol.js';
import { httpError } from './errors.js';
import type { RecordChunk, RecordRead, RecordsReader, Snapshot } from './ports.js';

const MAX_COMMIT_BODY = 64 * 1024;
/** The x-tributary-skipped trailer names at most this many skipped batches. */
const MAX_SKIPS_IN_TRAILER = 50;

export interface RecordsRouteOptions {
  reader: RecordsReader;
  logger: Logger;
}

export interface StreamStats {
  /** Record streams now open. */
  active: number;
  /** Records read out of the log by all streams so far. */
  recordsRead: number;
  /** Corrupt batches streams passed over with onCorrupt=skip. */
  corruptSkipped: number;
}

type Send = (res: ServerResponse, status: number, body: unknown) => void;

export class RecordsRoute {
  readonly stats: StreamStats = { active: 0, recordsRead: 0, corruptSkipped: 0 };

  constructor(private readonly options: RecordsRouteOptions) {}

  /** Whether this route serves `pathname`. */
  static serves(pathname: string): boolean {
    return pathname.startsWith('/api/topics/') || pathname === '/api/readers' || pathname.startsWith('/api/readers/');
  }

  /** Serves the request; throws TributaryErrors for the server to answer with a 4xx. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, send: Send): Promise<void> {
    const parts = pathParts(url.pathname); // ['topics', name, ...]
    const method = req.method ?? 'GET';
    const reader = this.options.reader;
    if (parts[0] === 'topics' && parts.length === 2 && method === 'GET') return send(res, 200, reader.topic(parts[1]!));
    if (parts[0] === 'topics' && parts.length === 3 && parts[2] === 'records' && method === 'GET') return this.stream(req, res, reader.open(parts[1]!, url.searchParams));
    if (parts[0] === 'readers' && parts.length === 1 && method === 'GET') return send(res, 200, { readers: reader.readers() });
    if (parts[0] === 'readers' && parts.length === 3 && parts[2] === 'positions' && method === 'POST') {
      // JSON only: a cross-site form or text/plain POST (no preflight) cannot move a position.
      if (!isJson(req)) return send(res, 415, httpError('TRIB_HTTP_MEDIA_TYPE', 'a positions commit needs content-type: application/json'));
      return send(res, 200, await reader.commit(parts[1]!, () => readJson(req)));
    }
    if (parts[0] === 'readers' && parts.length === 2 && method === 'DELETE') {
      return send(res, 200, { reader: parts[1], deleted: reader.forget(parts[1]!) });
    }
    const known =
      (parts[0] === 'topics' && (parts.length === 2 || (parts.length === 3 && parts[2] === 'records'))) ||
      (parts[0] === 'readers' && (parts.length <= 2 || (parts.length === 3 && parts[2] === 'positions')));
    if (known) return send(res, 405, httpError('TRIB_HTTP_METHOD', `no ${method} route for ${url.pathname}`));
    send(res, 404, httpError('TRIB_HTTP_NOT_FOUND', `no route for ${url.pathname}`));
  }

  private async stream(req: IncomingMessage, res: ServerResponse, read: RecordRead): Promise<void> {
    const skips: Snapshot[] = [];
    /** The next chunk; a corrupt batch is passed over (and reported) when the read says so. */
    const next = (): RecordChunk | null => {
      for (;;) {
        try {
          return read.next();
        } catch (err) {
          if (!(err instanceof CorruptBatchError) || read.onCorrupt !== 'skip') throw err;
          const skipped = read.skip(err);
          // The trailer stays small enough for any client's header limit; NDJSON lines list all.
          if (skips.length < MAX_SKIPS_IN_TRAILER) skips.push(skipped.report);
          this.stats.corruptSkipped++;
          if (skipped.bytes.length > 0) return { bytes: skipped.bytes, records: 0 };
        }
      }
    };
    // The first chunk before the status line: a read that starts at a corrupt batch (or fails
    // otherwise) gets an error status and the JSON error, not a 200 cut short.
    const first = next();
    let gone = false;
    res.once('close', () => (gone = true));
    res.writeHead(200, {
      'content-type': read.contentType,
      [RANGES_HEADER]: JSON.stringify(read.ranges),
      'x-tributary-records': String(read.total),
      'cache-control': 'no-store',
      trailer: `${ERROR_TRAILER}, ${SKIPPED_TRAILER}`,
    });
    this.stats.active++;
    try {
      if (read.head.length > 0) res.write(read.head);
      for (let chunk = first; chunk !== null; chunk = next()) {
        if (gone) return;
        this.stats.recordsRead += chunk.records;
        if (chunk.bytes.length > 0 && !res.write(chunk.bytes)) {
          // A full socket: wait until the client has taken what was written, or has gone.
          if (!gone) await drainOrClose(res);
        } else {
          // Let the node's other work (MQTT publishes, appends) run between chunks.
          await nextTurn();
        }
      }
      if (skips.length > 0) res.addTrailers({ [SKIPPED_TRAILER]: JSON.stringify(skips) });
      res.end();
    } catch (err) {
      if (err instanceof CorruptBatchError && !gone) {
        // Everything good before the bad batch was written; say why the stream ends here, in-band
        // for NDJSON and in the trailer for every format, and end the body cleanly.
        this.options.logger.warn({ err, path: req.url }, 'record stream ended early with an error');
        const last = read.endedBy(err);
        if (last.length > 0) res.write(last);
        res.addTrailers({ [ERROR_TRAILER]: JSON.stringify(err.toJSON()), ...(skips.length > 0 ? { [SKIPPED_TRAILER]: JSON.stringify(skips) } : {}) });
        res.end();
        return;
      }
      // Anything else (retention deleting the range under the stream, a bug): cutting the
      // connection is how the client learns that the stream is incomplete (an unterminated
      // chunked body), instead of a silent short read.
      this.options.logger.warn({ err, path: req.url }, 'record stream failed; connection cut');
      res.destroy(err as Error);
    } finally {
      this.stats.active--;
    }
  }
}

/** The decoded segments after /api/; bad percent-encoding is the client's error (400). */
function pathParts(pathname: string): string[] {
  try {
    return pathname.split('/').slice(2).map(decodeURIComponent);
  } catch {
    throw new UsageError(`the path ${pathname} has bad percent-encoding`);
  }
}

function isJson(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_COMMIT_BODY) throw new UsageError(`request body over ${MAX_COMMIT_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new UsageError(`request body is not JSON: ${(err as Error).message}`);
  }
}

/** Resolves at 'drain' or 'close', whichever comes first, leaving no listener behind. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
