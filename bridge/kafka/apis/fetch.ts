// Fetch (key 1), versions 4-17: stored record batches, as stored, up to the high watermark
// (FetchRequest.json / FetchResponse.json). Flexible from v12; topics named by id from v13.
//
//   Fetch Request => replica_id max_wait_ms min_bytes max_bytes isolation_level session_id
//                    session_epoch [topics] [forgotten_topics_data] rack_id TAG_BUFFER
//     replica_id => INT32                   (v0-v14; from v15 in the ReplicaState tag)
//     max_wait_ms, min_bytes, max_bytes => INT32
//     isolation_level => INT8               (0 read uncommitted, 1 read committed)
//     session_id, session_epoch => INT32    (v7+; KIP-227 fetch sessions)
//     topics => topic | topic_id, [partitions] TAG_BUFFER
//       topic => STRING (v4-v12), topic_id => UUID (v13+)
//       partitions => partition current_leader_epoch fetch_offset last_fetched_epoch
//                     log_start_offset partition_max_bytes TAG_BUFFER
//         partition => INT32, current_leader_epoch => INT32 (v9+), fetch_offset => INT64,
//         last_fetched_epoch => INT32 (v12+), log_start_offset => INT64 (v5+),
//         partition_max_bytes => INT32
//     forgotten_topics_data => topic | topic_id, [partitions INT32] TAG_BUFFER   (v7+)
//     rack_id => STRING                     (v11+)
//
//   Fetch Response => throttle_time_ms error_code session_id [responses] TAG_BUFFER
//     throttle_time_ms => INT32; error_code, session_id => INT16, INT32 (v7+)
//     responses => topic | topic_id, [partitions] TAG_BUFFER
//       partitions => partition_index error_code high_watermark last_stable_offset
//                     log_start_offset [aborted_transactions] preferred_read_replica records TAG_BUFFER
//         partition_index => INT32, error_code => INT16, high_watermark => INT64,
//         last_stable_offset => INT64 (v4+), log_start_offset => INT64 (v5+),
//         aborted_transactions => NULLABLE [producer_id INT64, first_offset INT64] (v4+),
//         preferred_read_replica => INT32 (v11+),
//         records => RECORDS (v4-v11: int32 length; v12+: COMPACT_RECORDS)
//         tagged (v12+): 0 diverging_epoch => epoch INT32, end_offset INT64 TAG_BUFFER
//
// Semantics kept from Kafka's broker:
// - No fetch sessions: every request is a full fetch and every answer says session id 0 ("none
//   created"); clients then keep sending full fetches. A request naming a session gets
//   FETCH_SESSION_ID_NOT_FOUND.
// - Long poll: the answer waits until min_bytes are there, an error is, or max_wait_ms passed,
//   woken by the log's offset waiters (Log.waitFor) when a high watermark moves, never polling.
// - KIP-74: max_bytes and partition_max_bytes bound the answer, except that the first batch of the
//   first partition with data is served whole so that a consumer always makes progress.
// - Batches go out as the log stored them (CRC checked on read, never decoded or re-encoded); a
//   corrupt one is never served (CORRUPT_MESSAGE). The batch holding fetch_offset is served whole,
//   and clients skip its records below it, as from Kafka.
// - Both isolation levels end at the high watermark (no transactions: last stable offset = high
//   watermark; aborted_transactions is empty for read committed, null otherwise).
// TODO(replication): a follower's fetch (replica_id >= 0, or ReplicaState from v15) will read up
// to the log end and move the high watermark; today every fetch is a consumer's.
import type { Log } from '../../../broker/log/log.js';
import { MalformedRequestError } from '../errors.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { releaseBuffers } from '../release-buffers.js';
import { topicId, topicNameById } from '../topic-ids.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { errorCodeOf, leaderEpochError } from './partition-errors.js';

/** The most one answer carries, whatever max_bytes asks (Kafka's broker default fetch.max.bytes, 55 MiB). */
export const FETCH_MAX_BYTES = 55 * 1024 * 1024;
const READ_COMMITTED = 1;

interface PartitionRequest {
  index: number;
  currentLeaderEpoch: number;
  fetchOffset: number;
  lastFetchedEpoch: number;
  maxBytes: number;
}

interface TopicRequest {
  /** null: a topic id this node does not know (v13+). */
  name: string | null;
  id: Buffer | null;
  partitions: PartitionRequest[];
}

interface FetchRequest {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  readCommitted: boolean;
  sessionId: number;
  topics: TopicRequest[];
}

interface PartitionAnswer {
  index: number;
  error: number;
  highWatermark: number;
  logStartOffset: number;
  records: Buffer[];
  bytes: number;
  diverging: { epoch: number; endOffset: number } | null;
  /** Where to wait for more (the high watermark to pass it); null: an error, answer at once. */
  waitOffset: number | null;
  /** The offset after the last batch served, where this client's next fetch of the partition starts; null: none served. */
  nextOffset: number | null;
}

interface TopicAnswer {
  topic: TopicRequest;
  partitions: PartitionAnswer[];
}

export const fetch: ApiHandler = {
  key: 1,
  name: 'Fetch',
  minVersion: 4,
  maxVersion: 17,
  flexibleFrom: 12,
  async handle(request: Reader, version: number, context: RequestContext): Promise<Writer> {
    const flexible = isFlexible(this, version);
    const req = readFetch(request, version, flexible, context.log);
    if (req.sessionId !== 0) return writeFetch(version, flexible, req, ErrorCode.FETCH_SESSION_ID_NOT_FOUND, []);
    const answers = await longPoll(req, version, context);
    readNextAhead(req, answers, context);
    releaseOnceSent(answers, context);
    return writeFetch(version, flexible, req, ErrorCode.NONE, answers);
  },
};

/**
 * The batches of the answer are this request's own (Log.readBatches reads fresh Buffers, or takes
 * a read-ahead that it then forgets): once the socket has taken the answer in full their memory is
 * given back at once (../release-buffers.ts), not at V8's next full collection, which they would
 * otherwise set off every ~10 MB served. Only inside a connection, which runs the task after the
 * write completed; without one (afterAnswer absent) nothing says when the bytes are no longer read.
 */
function releaseOnceSent(answers: readonly TopicAnswer[], context: RequestContext): void {
  if (context.afterAnswer === undefined) return;
  const served = answers.flatMap((t) => t.partitions.flatMap((p) => p.records));
  if (served.length > 0) context.afterAnswer(() => releaseBuffers(served));
}

/**
 * A consumer asks for the next range of a partition only once it has processed this answer (one
 * fetch in flight per partition): that range is read once this answer has gone to the socket in
 * full (not before: a client with a small receive window takes a large answer in pieces, which the
 * event loop must keep feeding), while the client is busy with it, so that the next Fetch does not
 * wait for the read (Log.readAhead; what is kept was CRC-checked when it was read, and is dropped
 * if the log changes under it). Only where this answer served data and more is committed.
 */
function readNextAhead(req: FetchRequest, answers: readonly TopicAnswer[], context: RequestContext): void {
  const next: Array<[string, number, number, number]> = [];
  for (const t of answers) {
    for (const p of t.partitions) {
      if (p.nextOffset === null || p.nextOffset >= p.highWatermark) continue;
      const asked = t.topic.partitions.find((q) => q.index === p.index)!;
      next.push([t.topic.name!, p.index, p.nextOffset, Math.max(Math.min(asked.maxBytes, req.maxBytes), 1)]);
    }
  }
  if (next.length === 0) return;
  const afterAnswer = context.afterAnswer ?? ((task: () => void) => void setImmediate(task));
  afterAnswer(() => {
    if (context.signal.aborted) return;
    for (const [topic, partition, from, maxBytes] of next) {
      try {
        context.log.readAhead(topic, partition, from, maxBytes);
      } catch {
        // the partition went away or the log closed: the next Fetch answers that
      }
    }
  });
}

function readFetch(r: Reader, version: number, flexible: boolean, log: Log): FetchRequest {
  if (version <= 14) r.int32(); // replica id
  const maxWaitMs = r.int32();
  const minBytes = r.int32();
  const maxBytes = r.int32();
  const isolation = r.int8();
  if (isolation !== 0 && isolation !== 1) throw new MalformedRequestError(`isolation level ${isolation}`);
  const sessionId = version >= 7 ? r.int32() : 0;
  if (version >= 7) r.int32(); // session epoch: -1 (no session) or 0 (asks for one, which we do not create)
  const names = version >= 13 ? log.topics().map((t) => t.name) : [];
  const topics = r.array(flexible, (r): TopicRequest => {
    let name: string | null;
    let id: Buffer | null = null;
    if (version >= 13) {
      id = Buffer.from(r.uuid());
      name = topicNameById(names, id);
    } else name = r.string(flexible);
    const partitions = r.array(flexible, (r): PartitionRequest => {
      const index = r.int32();
      const currentLeaderEpoch = version >= 9 ? r.int32() : -1;
      const fetchOffset = r.int64();
      const lastFetchedEpoch = version >= 12 ? r.int32() : -1;
      if (version >= 5) r.int64(); // the follower's log start offset
      const maxBytes = r.int32();
      if (flexible) r.taggedFields();
      return { index, currentLeaderEpoch, fetchOffset, lastFetchedEpoch, maxBytes };
    });
    if (flexible) r.taggedFields();
    return { name, id, partitions };
  });
  if (version >= 7) {
    // Partitions an incremental fetch drops from its session: without sessions there is nothing to drop.
    r.array(flexible, (r) => {
      if (version >= 13) r.uuid();
      else r.string(flexible);
      r.array(flexible, (r) => r.int32());
      if (flexible) r.taggedFields();
    });
  }
  if (version >= 11) r.string(flexible); // rack id
  if (flexible) r.taggedFields();
  return { maxWaitMs, minBytes, maxBytes: Math.min(Math.max(maxBytes, 0), FETCH_MAX_BYTES), readCommitted: isolation === READ_COMMITTED, sessionId, topics };
}

/** Reads; while under min_bytes with no error and time left, waits for a high watermark to move and reads again. */
async function longPoll(req: FetchRequest, version: number, context: RequestContext): Promise<TopicAnswer[]> {
  const deadline = Date.now() + Math.max(0, req.maxWaitMs);
  for (;;) {
    const answers = readAll(req, version, context);
    const parts = answers.flatMap((t) => t.partitions);
    const bytes = parts.reduce((sum, p) => sum + p.bytes, 0);
    const left = deadline - Date.now();
    if (bytes >= req.minBytes || bytes >= req.maxBytes || left <= 0 || context.signal.aborted || parts.some((p) => p.waitOffset === null)) return answers;
    if (!(await anyMoves(answers, left, context))) return readAll(req, version, context);
  }
}

/** Resolves true when a partition's high watermark passes its wait offset, false at the deadline or on abort (the log closing too). */
async function anyMoves(answers: readonly TopicAnswer[], timeoutMs: number, context: RequestContext): Promise<boolean> {
  const done = new AbortController();
  const stop = (): void => done.abort();
  context.signal.addEventListener('abort', stop, { once: true });
  try {
    const waits = answers.flatMap((t) => t.partitions.map((p) => context.log.waitFor(t.topic.name!, p.index, p.waitOffset!, timeoutMs, done.signal)));
    if (waits.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        done.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
      return false;
    }
    return await new Promise<boolean>((resolve, reject) => {
      let pending = waits.length;
      for (const wait of waits) {
        wait.then((moved) => {
          if (moved) resolve(true);
          else if (--pending === 0) resolve(false);
        }, reject);
      }
    });
  } catch {
    return false; // the log closed: answer with what there is
  } finally {
    context.signal.removeEventListener('abort', stop);
    done.abort();
  }
}

function readAll(req: FetchRequest, version: number, context: RequestContext): TopicAnswer[] {
  let room = req.maxBytes;
  let served = false;
  return req.topics.map((topic) => ({
    topic,
    partitions: topic.partitions.map((p) => {
      const answer = readPartition(context, version, topic, p, Math.min(p.maxBytes, room), !served);
      room -= answer.bytes;
      served ||= answer.bytes > 0;
      return answer;
    }),
  }));
}

function readPartition(context: RequestContext, version: number, topic: TopicRequest, p: PartitionRequest, limit: number, firstWithData: boolean): PartitionAnswer {
  const failed = (error: number, highWatermark = -1, logStartOffset = -1): PartitionAnswer => ({ index: p.index, error, highWatermark, logStartOffset, records: [], bytes: 0, diverging: null, waitOffset: null, nextOffset: null });
  if (topic.name === null) return failed(ErrorCode.UNKNOWN_TOPIC_ID);
  // Before anything is read, as Kafka does: a refused client learns nothing of the partition.
  if (!context.authorize('read', topic.name)) return failed(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const { log } = context;
  const name = topic.name;
  let partition;
  try {
    partition = log.partition(name, p.index);
  } catch (err) {
    return failed(errorCodeOf(err, context, { api: 'Fetch', topic: name, partition: p.index }));
  }
  const highWatermark = partition.highWatermark;
  const logStartOffset = partition.logStartOffset;
  const answer: PartitionAnswer = { index: p.index, error: ErrorCode.NONE, highWatermark, logStartOffset, records: [], bytes: 0, diverging: null, waitOffset: Math.max(p.fetchOffset, highWatermark), nextOffset: null };
  try {
    const fenced = leaderEpochError(log, name, p.index, p.currentLeaderEpoch);
    if (fenced !== ErrorCode.NONE) return failed(fenced, highWatermark, logStartOffset);
    if (p.lastFetchedEpoch >= 0) {
      const diverging = divergence(log, name, p, logStartOffset);
      if (diverging === 'out of range') return failed(ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark, logStartOffset);
      if (diverging !== null) return { ...answer, diverging, waitOffset: null };
    }
    // The log's own rule (Partition.read): positions from the log start to the log end are valid.
    if (p.fetchOffset < logStartOffset || p.fetchOffset > partition.logEndOffset) return failed(ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark, logStartOffset);
    if (limit <= 0 && !firstWithData) return answer; // the answer is full
    const batches = log.readBatches(name, p.index, p.fetchOffset, Math.max(limit, 1));
    if (batches.length === 0 || (!firstWithData && batches[0]!.bytes.length > limit)) return answer;
    answer.records = batches.map((b) => b.bytes);
    answer.bytes = answer.records.reduce((sum, b) => sum + b.length, 0);
    answer.nextOffset = batches.at(-1)!.lastOffset + 1;
    return answer;
  } catch (err) {
    return failed(errorCodeOf(err, context, { api: 'Fetch', topic: name, partition: p.index, offset: p.fetchOffset }), highWatermark, logStartOffset);
  }
}

/**
 * KIP-595/KIP-320 log divergence: the fetcher's last fetched epoch must end at or after its fetch
 * offset in this log; if not, the answer names the largest epoch at or below it and where that
 * epoch ends, and the fetcher truncates there. An epoch the log cannot place is out of range.
 */
function divergence(log: Log, topic: string, p: PartitionRequest, logStartOffset: number): { epoch: number; endOffset: number } | 'out of range' | null {
  const end = log.endOffsetForEpoch(topic, p.index, p.lastFetchedEpoch);
  if (end.epoch < 0 || end.endOffset < 0) return 'out of range';
  if (p.fetchOffset < logStartOffset) return 'out of range';
  if (end.epoch < p.lastFetchedEpoch || end.endOffset < p.fetchOffset) return end;
  return null;
}

function writeFetch(version: number, flexible: boolean, req: FetchRequest, error: number, topics: readonly TopicAnswer[]): Writer {
  const w = new Writer();
  w.int32(0);
  if (version >= 7) w.int16(error).int32(0);
  w.array(topics, flexible, (w, t) => {
    if (version >= 13) w.uuid(t.topic.id ?? topicId(t.topic.name!));
    else w.string(t.topic.name, flexible);
    w.array(t.partitions, flexible, (w, p) => {
      w.int32(p.index).int16(p.error).int64(p.highWatermark);
      w.int64(p.highWatermark); // last stable offset: no transactions
      if (version >= 5) w.int64(p.logStartOffset);
      w.array(req.readCommitted ? [] : null, flexible, () => undefined);
      if (version >= 11) w.int32(-1); // preferred read replica: none
      if (flexible) w.uvarint(p.bytes + 1);
      else w.int32(p.bytes);
      for (const batch of p.records) w.bytes(batch);
      if (flexible) w.taggedFields(p.diverging === null ? [] : [[0, new Writer().int32(p.diverging.epoch).int64(p.diverging.endOffset).taggedFields()]]);
    });
    if (flexible) w.taggedFields();
  });
  if (flexible) w.taggedFields();
  return w;
}
