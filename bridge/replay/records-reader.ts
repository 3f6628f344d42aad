// The replay side of the HTTP API's records routes: a topic's partitions, reads of record ranges
// encoded in a format, and named readers' positions. The HTTP server (bridge/http/records.ts)
// parses paths, streams and answers; what is read, and how it is checked, is decided here, with
// the same rules as the CLI's --data-dir mode (range.ts). bridge/main.ts hands it to the server.
//
// A named reader's position is never moved by a read itself: the client commits what it has
// processed (docs/replay.md), at most one fsynced commit per reader per second
// (commit-coalescer.ts).
import type { CursorStore } from '../../broker/cursors.js';
import { type CorruptBatchError, OffsetOutOfRangeError, UnknownTopicError, UsageError } from '../../broker/errors.js';
import type { Log, TopicInfo } from '../../broker/log/log.js';
import { BatchLineSource } from './batch-lines.js';
import { CoalescedCommits } from './commit-coalescer.js';
import { errorLine, parseCorruptPolicy, type SkipReport, skippedLine, skipReport, type CorruptPolicy } from './corrupt.js';
import { CONTENT_TYPES, createEncoder, parseFormat } from './formats.js';
import { LogSource } from './log-source.js';
import { NdjsonEncoder } from './ndjson.js';
import { parseRequest, rangeTotal, resolveRanges, type PartitionRange } from './range.js';
import { checkName } from './reader-name.js';
import { ReaderPositions } from './reader-store.js';
import { readerLags, type ReaderLag } from './readers.js';

/** At most one fsynced commit per reader per this many ms (docs/replay.md, "What a commit costs"). */
const COMMIT_INTERVAL_MS = 1000;

/** The query parameters of GET /api/topics/{topic}/records. */
const PARAMETERS = new Set(['partition', 'from-offset', 'from-time', 'to-offset', 'to-time', 'key', 'reader', 'format', 'base64', 'onCorrupt']);

/** A read of one topic's ranges, opened and checked; chunks are encoded in the asked format. */
export interface RecordsRead {
  contentType: string;
  ranges: PartitionRange[];
  total: number;
  head: Buffer;
  onCorrupt: CorruptPolicy;
  next(): { bytes: Buffer; records: number } | null;
  skip(err: CorruptBatchError): { report: SkipReport; bytes: Buffer };
  endedBy(err: CorruptBatchError): Buffer;
}

export interface PositionsCommit {
  reader: string;
  topic: string;
  positions: Array<{ partition: number; nextOffset: number }>;
}

export class LogRecordsReader {
  private positions: ReaderPositions | null = null;
  private readonly commits = new CoalescedCommits((reader, entries) => this.cursors().commitMany(reader, entries), COMMIT_INTERVAL_MS);

  /** `cursors` null: a node that keeps no named readers' positions (their routes refuse). */
  constructor(
    private readonly log: Log,
    private readonly store: CursorStore | null,
  ) {}

  topic(name: string): TopicInfo {
    const info = this.log.topics().find((t) => t.name === name);
    if (info === undefined) throw new UnknownTopicError(name, this.log.topics().map((t) => t.name));
    return info;
  }

  open(topic: string, query: URLSearchParams): RecordsRead {
    const param = (name: string): string | undefined => query.get(name) ?? undefined;
    for (const name of query.keys()) if (!PARAMETERS.has(name)) throw new UsageError(`unknown parameter '${name}' (known: ${[...PARAMETERS].join(', ')})`);
    const request = parseRequest(
      { topic, partition: param('partition'), fromOffset: param('from-offset'), fromTime: param('from-time'), toOffset: param('to-offset'), toTime: param('to-time'), key: param('key'), reader: param('reader') },
      { topic: 'topic', partition: 'partition', fromOffset: 'from-offset', fromTime: 'from-time', toOffset: 'to-offset', toTime: 'to-time', key: 'key', reader: 'reader' },
    );
    const format = parseFormat(param('format'), 'format');
    const base64 = param('base64');
    if (base64 !== undefined && base64 !== 'true' && base64 !== 'false') throw new UsageError(`base64 must be true or false, got '${base64}'`);
    const onCorrupt = parseCorruptPolicy(param('onCorrupt'), 'onCorrupt');
    const ranges = resolveRanges(this.log, request, request.reader === null ? null : this.cursors());
    const key = request.key === null ? null : Buffer.from(request.key);
    const forceBase64 = base64 === 'true';
    const inBand = format === 'ndjson';
    const nonEmpty = ranges.filter((r) => r.to > r.from);
    const read = {
      contentType: CONTENT_TYPES[format],
      ranges,
      total: rangeTotal(ranges),
      onCorrupt,
      endedBy: (err: CorruptBatchError): Buffer => (inBand ? errorLine(err) : Buffer.alloc(0)),
    };
    const skipped = (err: CorruptBatchError): { report: SkipReport; bytes: Buffer } => ({ report: skipReport(err), bytes: inBand ? skippedLine(err) : Buffer.alloc(0) });
    if (format === 'ndjson' && nonEmpty.length === 1) {
      // One partition as NDJSON, the common bulk case: lines straight from the stored batches.
      const lines = new BatchLineSource(this.log, topic, nonEmpty[0]!, new NdjsonEncoder(topic, { forceBase64 }), key);
      return {
        ...read,
        head: Buffer.alloc(0),
        next: () => lines.nextChunk(),
        skip: (err) => {
          lines.skip(err);
          return skipped(err);
        },
      };
    }
    const records = new LogSource(this.log, topic, ranges, { key });
    const encoder = createEncoder(format, topic, { forceBase64 });
    return {
      ...read,
      head: encoder.head,
      next: () => {
        const chunk = records.next();
        return chunk === null ? null : { bytes: encoder.encode(chunk.partition, chunk.records), records: chunk.records.length };
      },
      skip: (err) => {
        records.skip(err);
        return skipped(err);
      },
    };
  }

  readers(): ReaderLag[] {
    return readerLags(this.cursors(), this.log);
  }

  async commit(reader: string, readBody: () => Promise<unknown>): Promise<PositionsCommit> {
    checkName(reader);
    const body = await readBody();
    // JSON's null (the whole body, or a position) is no object to read fields of.
    const fields = (body ?? {}) as { topic?: unknown; positions?: unknown };
    const topic = fields.topic;
    const positions = fields.positions;
    if (typeof topic !== 'string' || !Array.isArray(positions)) {
      throw new UsageError('a positions commit is {"topic": "...", "positions": [{"partition": 0, "nextOffset": 123}]}');
    }
    const log = this.log;
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

  forget(reader: string): number {
    checkName(reader);
    this.commits.forget(reader);
    return this.cursors().delete(reader);
  }

  private cursors(): ReaderPositions {
    if (this.store === null) throw new UsageError('this node keeps no reader positions');
    this.positions ??= new ReaderPositions(this.store);
    return this.positions;
  }
}
