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
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CursorStore } from '../../broker/cursors.js';
import { CorruptBatchError, OffsetOutOfRangeError, UnknownTopicError, UsageError } from '../../broker/errors.js';
import type { Log } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import { httpError } from './errors.js';
import { CONTENT_TYPES, createEncoder, parseFormat, type Format } from '../replay/formats.js';
import { BatchLineSource } from '../replay/batch-lines.js';
import { LogSource } from '../replay/log-source.js';
import { NdjsonEncoder } from '../replay/ndjson.js';
import { parseRequest, rangeTotal, resolveRanges, type PartitionRange } from '../replay/range.js';
import { ERROR_TRAILER, RANGES_HEADER, SKIPPED_TRAILER } from '../replay/http-source.js';
import { errorLine, skippedLine, type CorruptPolicy, parseCorruptPolicy, type SkipReport, skipReport } from '../replay/corrupt.js';
import { checkName } from '../replay/reader-name.js';
import { readerLags } from '../replay/readers.js';
import { ReaderPositions } from '../replay/reader-store.js';
import { CoalescedCommits } from '../replay/commit-coalescer.js';


const MAX_COMMIT_BODY = 64 * 1024;
/** The x-tributary-skipped trailer names at most this many skipped batches. */
const MAX_SKIPS_IN_TRAILER = 50;
/** At most one fsynced commit per reader per this many ms (docs/replay.md, "What a commit costs"). */
const COMMIT_INTERVAL_MS = 1000;

export interface RecordsRouteOptions {
  log: Log;
  cursors: CursorStore | null;
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

/** One piece of a response body and how many records it covers. */
interface Chunk {
  bytes: Buffer;
  records: number;
}

/** A stream's source: the next chunk, null at the end; skip() passes over a corrupt batch. */
interface ChunkSource {
  next(): Chunk | null;
  skip(err: CorruptBatchError): void;
}

type Send = (res: ServerResponse, status: number, body: unknown) => void;

export class RecordsRoute {
  readonly stats: StreamStats = { active: 0, recordsRead: 0, corruptSkipped: 0 };
  private readers: ReaderPositions | null = null;
  private readonly commits = new CoalescedCommits((reader, entries) => this.cursors().commitMany(reader, entries), COMMIT_INTERVAL_MS);

  constructor(private readonly options: RecordsRouteOptions) {}

  /** Whether this route serves `pathname`. */
  static serves(pathname: string): boolean {
    return pathname.startsWith('/api/topics/') || pathname === '/api/readers' || pathname.startsWith('/api/readers/');
  }

  /** Serves the request; throws TributaryErrors for the server to answer with a 4xx. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, send: Send): Promise<void> {
    const parts = pathParts(url.pathname); // ['topics', name, ...]
    const method = req.method ?? 'GET';
    if (parts[0] === 'topics' && parts.length === 2 && method === 'GET') return send(res, 200, this.topic(parts[1]!));
    if (parts[0] === 'topics' && parts.length === 3 && parts[2] === 'records' && method === 'GET') return this.records(req, res, parts[1]!, url.searchParams);
    if (parts[0] === 'readers' && parts.length === 1 && method === 'GET') return send(res, 200, { readers: readerLags(this.cursors(), this.options.log) });
    if (parts[0] === 'readers' && parts.length === 3 && parts[2] === 'positions' && method === 'POST') {
      // JSON only: a cross-site form or text/plain POST (no preflight) cannot move a position.
      if (!isJson(req)) return send(res, 415, httpError('TRIB_HTTP_MEDIA_TYPE', 'a positions commit needs content-type: application/json'));
      return send(res, 200, await this.commit(req, parts[1]!));
    }
    if (parts[0] === 'readers' && parts.length === 2 && method === 'DELETE') {
      checkName(parts[1]!);
      this.commits.forget(parts[1]!);
      return send(res, 200, { reader: parts[1], deleted: this.cursors().delete(parts[1]!) });
    }
    const known =
      (parts[0] === 'topics' && (parts.length === 2 || (parts.length === 3 && parts[2] === 'records'))) ||
      (parts[0] === 'readers' && (parts.length <= 2 || (parts.length === 3 && parts[2] === 'positions')));
    if (known) return send(res, 405, httpError('TRIB_HTTP_METHOD', `no ${method} route for ${url.pathname}`));
    send(res, 404, httpError('TRIB_HTTP_NOT_FOUND', `no route for ${url.pathname}`));
  }

  private topic(name: string): unknown {
    const info = this.options.log.topics().find((t) => t.name === name);
    if (info === undefined) throw new UnknownTopicError(name, this.options.log.topics().map((t) => t.name));
    return info;
  }

  private async records(req: IncomingMessage, res: ServerResponse, topic: string, query: URLSearchParams): Promise<void> {
    const param = (name: string): string | undefined => query.get(name) ?? undefined;
    const known = new Set(['partition', 'from-offset', 'from-time', 'to-offset', 'to-time', 'key', 'reader', 'format', 'base64', 'onCorrupt']);
    for (const name of query.keys()) if (!known.has(name)) throw new UsageError(`unknown parameter '${name}' (known: ${[...known].join(', ')})`);
    const request = parseRequest(
      { topic, partition: param('partition'), fromOffset: param('from-offset'), fromTime: param('from-time'), toOffset: param('to-offset'), toTime: param('to-time'), key: param('key'), reader: param('reader') },
      { topic: 'topic', partition: 'partition', fromOffset: 'from-offset', fromTime: 'from-time', toOffset: 'to-offset', toTime: 'to-time', key: 'key', reader: 'reader' },
    );
    const format = parseFormat(param('format'), 'format');
    const base64 = param('base64');
    if (base64 !== undefined && base64 !== 'true' && base64 !== 'false') throw new UsageError(`base64 must be true or false, got '${base64}'`);
    const onCorrupt = parseCorruptPolicy(param('onCorrupt'), 'onCorrupt');
    const ranges = resolveRanges(this.options.log, request, request.reader === null ? null : this.cursors());
    const key = request.key === null ? null : Buffer.from(request.key);
    const forceBase64 = base64 === 'true';
    const nonEmpty = ranges.filter((r) => r.to > r.from);
    let source: ChunkSource;
    let head: Buffer = Buffer.alloc(0);
    if (format === 'ndjson' && nonEmpty.length === 1) {
      // One partition as NDJSON, the common bulk case: lines straight from the stored batches.
      const lines = new BatchLineSource(this.options.log, topic, nonEmpty[0]!, new NdjsonEncoder(topic, { forceBase64 }), key);
      source = { next: () => lines.nextChunk(), skip: (err) => lines.skip(err) };
    } else {
      const records = new LogSource(this.options.log, topic, ranges, { key });
      const encoder = createEncoder(format, topic, { forceBase64 });
      head = encoder.head;
      source = {
        next: () => {
          const chunk = records.next();
          return chunk === null ? null : { bytes: encoder.encode(chunk.partition, chunk.records), records: chunk.records.length };
        },
        skip: (err) => records.skip(err),
      };
    }
    await this.stream(req, res, source, { head, ranges, format, onCorrupt });
  }

  private async stream(req: IncomingMessage, res: ServerResponse, source: ChunkSource, how: { head: Buffer; ranges: PartitionRange[]; format: Format; onCorrupt: CorruptPolicy }): Promise<void> {
    const skips: SkipReport[] = [];
    const inBand = how.format === 'ndjson';
    /** The next chunk; a corrupt batch is passed over (and reported) when the policy says so. */
    const next = (): Chunk | null => {
      for (;;) {
        try {
          return source.next();
        } catch (err) {
          if (!(err instanceof CorruptBatchError) || how.onCorrupt !== 'skip') throw err;
          source.skip(err);
          // The trailer stays small enough for any client's header limit; NDJSON lines list all.
          if (skips.length < MAX_SKIPS_IN_TRAILER) skips.push(skipReport(err));
          this.stats.corruptSkipped++;
          if (inBand) return { bytes: skippedLine(err), records: 0 };
        }
      }
    };
    // The first chunk before the status line: a read that starts at a corrupt batch (or fails
    // otherwise) gets an error status and the JSON error, not a 200 cut short.
    const first = next();
    let gone = false;
    res.once('close', () => (gone = true));
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[how.format],
      [RANGES_HEADER]: JSON.stringify(how.ranges),
      'x-tributary-records': String(rangeTotal(how.ranges)),
      'cache-control': 'no-store',
      trailer: `${ERROR_TRAILER}, ${SKIPPED_TRAILER}`,
    });
    this.stats.active++;
    try {
      if (how.head.length > 0) res.write(how.head);
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
        if (inBand) res.write(errorLine(err));
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

  private async commit(req: IncomingMessage, reader: string): Promise<unknown> {
    checkName(reader);
    const body = await readJson(req);
    // JSON's null (the whole body, or a position) is no object to read fields of.
    const fields = (body ?? {}) as { topic?: unknown; positions?: unknown };
    const topic = fields.topic;
    const positions = fields.positions;
    if (typeof topic !== 'string' || !Array.isArray(positions)) {
      throw new UsageError('a positions commit is {"topic": "...", "positions": [{"partition": 0, "nextOffset": 123}]}');
    }
    const log = this.options.log;
    const checked = positions.map((p: { partition?: unknown; nextOffset?: unknown } | null) => {
      if (p === null || typeof p !== 'object' || !Number.isInteger(p.partition) || !Number.isSafeInteger(p.nextOffset)) throw new UsageError('each position needs an integer partition and nextOffset');
      const part = log.partition(topic, p.partition as number);
      const next = p.nextOffset as number;
      if (next < part.logStartOffset || next > part.logEndOffset) throw new OffsetOutOfRangeError(topic, part.partition, next, part.logStartOffset, part.logEndOffset);
      return { topic, partition: part.partition, nextOffset: next };
    });
    this.cursors(); // a node without a store refuses before waiting for a slot
    await this.commits.commit(reader, checked);
    return { reader, topic, positions: checked.map(({ partition, nextOffset }) => ({ partition, nextOffset })) };
  }

  private cursors(): ReaderPositions {
    if (this.options.cursors === null) throw new UsageError('this node keeps no reader positions');
    this.readers ??= new ReaderPositions(this.options.cursors);
    return this.readers;
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
