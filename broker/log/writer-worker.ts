// The writer thread: owns the log's only write connection, so that SQLite's commits and fsyncs
// never stall the main event loop (and with it MQTT traffic).
//
// Group commit: requests that arrive while a commit runs queue up in this thread's port; the next
// drain puts every queued append into one transaction, so one fsync covers all of them. Replies go
// back in request order, which keeps appends resolving in submission order.
import { parentPort, workerData } from 'node:worker_threads';
import { CorruptBatchError, OffsetMismatchError, OutOfOrderSequenceError, ProducerFencedError, StaleEpochError, TributaryError } from '../errors.js';
import { BatchStore } from './batch-store.js';
import { blockTransfers, packEntries, unpackEntries } from './entry-block.js';
import { LogRecovery } from './recovery.js';
import { openDatabase, type Db } from './schema.js';
import { toWriteError } from './sqlite-errors.js';
import type {
  AppendRequest,
  CommitSize,
  RecoveryReport,
  StagedEntry,
  WireError,
  WriterInit,
  WriterMessage,
  WriterReply,
  WriterRequest,
} from './writer-protocol.js';

const init = workerData as WriterInit;
const port = parentPort!;
let db: Db;
let store: BatchStore;
let queue: WriterRequest[] = [];
let drainScheduled = false;
let uncheckpointedCommits = false;
const GROUP_BYTES = 1024 * 1024; // measured: 256 KiB..2 MiB all beat an uncapped group; 1 MiB was best
// Free pages left in the file for the next appends to reuse, and how many more go back to the file
// system per drain: one step moves at most this much data, so appends never wait behind a long
// vacuum (docs/disk.md).
const KEEP_FREE_BYTES = 4 * 1024 * 1024;
const VACUUM_STEP_BYTES = 1024 * 1024;
let vacuumDue = false;
let keepFreeBytes = KEEP_FREE_BYTES;
let vacuumedPages = 0;
let pageSize = 4096;
let syncTimer: NodeJS.Timeout | undefined;
/** The newest leader epoch a staged group was lost in (-1: none); appends of it and older ones are refused. */
let fencedEpoch = -1;

function post(message: WriterMessage): void {
  port.postMessage(message);
}

function wire(err: unknown): WireError {
  const typed = err instanceof TributaryError ? err : toWriteError(err, init.dataDir);
  if (typed instanceof OffsetMismatchError) {
    const { topic, partition, expected, actual } = typed;
    return { code: typed.code, message: typed.message, fields: { topic, partition, expected, actual } };
  }
  if (typed instanceof CorruptBatchError) {
    const { topic, partition, baseOffset, reason, lastOffset } = typed;
    return { code: typed.code, message: typed.message, fields: { topic, partition, baseOffset, reason, lastOffset } };
  }
  if (typed instanceof StaleEpochError) {
    const { topic, partition, latestEpoch, epoch } = typed;
    return { code: typed.code, message: typed.message, fields: { topic, partition, latestEpoch, epoch } };
  }
  if (typed instanceof OutOfOrderSequenceError) {
    const { topic, partition, producerId, expected, actual } = typed;
    return { code: typed.code, message: typed.message, fields: { topic, partition, producerId, expected, actual } };
  }
  if (typed instanceof ProducerFencedError) {
    const { topic, partition, producerId, currentEpoch, epoch } = typed;
    return { code: typed.code, message: typed.message, fields: { topic, partition, producerId, currentEpoch, epoch } };
  }
  return { code: typed.code, message: typed.message };
}

function start(): void {
  try {
    const notes: string[] = [];
    db = openDatabase(init.databaseFile, {
      readonly: false,
      onUpgrade: (note) => notes.push(note),
      // fsync: every commit fsyncs the WAL. interval/write: commits reach the OS only; the WAL is
      // fsynced by the interval timer or by SQLite's own checkpoints.
      synchronous: init.durability === 'fsync' ? 'FULL' : 'NORMAL',
    });
    store = new BatchStore(db);
    pageSize = db.pragma('page_size', { simple: true }) as number;
    vacuumDue = true; // whatever an earlier run left free beyond the reserve
    const wasClean = store.markRunning();
    let recovery: RecoveryReport | null = null;
    if (!wasClean) {
      recovery = new LogRecovery(db).run();
      store.reload();
    }
    if (init.durability === 'interval') syncTimer = setInterval(syncNow, init.fsyncIntervalMs);
    post({ kind: 'ready', states: store.states(), recovery, notes });
  } catch (err) {
    post({ kind: 'failed', error: wire(err) });
  }
}

/** Forces what was committed onto the disk (used by `durability: interval`). */
function syncNow(): void {
  if (!uncheckpointedCommits) return;
  uncheckpointedCommits = false;
  try {
    // A checkpoint fsyncs the WAL before copying it into the database file.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    uncheckpointedCommits = true; // retried at the next tick; appends report their own errors
  }
}

port.on('message', (requests: WriterRequest[]) => {
  for (const request of requests) queue.push(request);
  if (!drainScheduled) {
    drainScheduled = true;
    // An idle writer: commit at once, or wait the configured moment for more appends to share the
    // fsync. Under load the queue is never empty after a commit and the next drain is immediate.
    if (init.commitDelayMs > 0) setTimeout(drain, init.commitDelayMs);
    else setImmediate(drain);
  }
});

function drain(): void {
  drainScheduled = false;
  const work = takeGroup();
  if (queue.length > 0) {
    drainScheduled = true;
    setImmediate(drain);
  }
  const replies: WriterReply[] = [];
  const commits: CommitSize[] = [];
  let appends: AppendRequest[] = [];
  const flushAppends = (): void => {
    if (appends.length > 0) {
      // Counted first: staging moves the batches' memory to the main thread.
      const bytes = appends.reduce((sum, a) => sum + a.batch.byteLength, 0);
      replies.push(...commitAppends(appends));
      commits.push({ batches: appends.length, bytes });
    }
    appends = [];
  };
  for (const request of work) {
    if (request.op === 'append') {
      appends.push(request);
      continue;
    }
    flushAppends();
    replies.push(runOther(request));
  }
  flushAppends();
  if (replies.length > 0) post({ kind: 'replies', replies, commits, lastSeq: store.lastPosition });
  if (vacuumDue) vacuumStep();
}

/** One bounded step of returning free pages to the file system, after a drain's replies went out. */
function vacuumStep(): void {
  const step = Math.ceil(VACUUM_STEP_BYTES / pageSize);
  try {
    const returned = store.returnFreePages(Math.ceil(keepFreeBytes / pageSize), step);
    vacuumedPages += returned;
    vacuumDue = returned === step;
  } catch {
    vacuumDue = false; // e.g. the disk is full: the pages stay free and are reused; tried after the next retention
  }
  if (vacuumDue) {
    if (!drainScheduled) {
      drainScheduled = true;
      setImmediate(drain);
    }
    return;
  }
  keepFreeBytes = KEEP_FREE_BYTES;
  // The file is cut when the WAL holding the vacuum is checkpointed into it: now, not at the next
  // 4 MiB of appends (which a held log may not get).
  if (vacuumedPages > 0) {
    vacuumedPages = 0;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // the next automatic checkpoint does it
    }
  }
}

/**
 * Takes queued requests up to GROUP_BYTES of batches. Capping a group lets the main thread encode
 * the next batches while this thread commits, instead of the two taking turns.
 */
function takeGroup(): WriterRequest[] {
  let bytes = 0;
  let count = 0;
  while (count < queue.length && (count === 0 || bytes < GROUP_BYTES)) {
    const request = queue[count++]!;
    if (request.op === 'append') bytes += request.batch.byteLength;
  }
  return queue.splice(0, count);
}

function commitAppends(requests: AppendRequest[]): WriterReply[] {
  const replies: WriterReply[] = [];
  let group = requests;
  if (fencedEpoch >= 0) {
    // A staged group of this leader epoch was lost after followers could fetch it: a new row of
    // the epoch would take a lost one's position, and a follower holding the lost one would take
    // the two for the same entry. The leader must step down; a new epoch starts afresh.
    const error: WireError = { code: 'TRIB_LOG_NOT_LEADER', message: `an append of leader epoch ${fencedEpoch} failed after followers could fetch it; appends wait for a new epoch` };
    for (const req of requests) if (req.leaderEpoch <= fencedEpoch) replies.push({ id: req.id, ok: false, error });
    group = requests.filter((req) => req.leaderEpoch > fencedEpoch);
    if (group.length === 0) return replies;
  }
  let staged: StagedEntry[] = [];
  const stage =
    init.stageBeforeSync === true
      ? (entries: StagedEntry[]): void => {
          staged = entries;
          if (entries.length === 0) return;
          const block = packEntries(entries);
          port.postMessage({ kind: 'staged', entries: block } satisfies WriterMessage, blockTransfers(block));
        }
      : undefined;
  try {
    const results = store.appendGroup(group, stage);
    uncheckpointedCommits = true;
    for (let i = 0; i < results.length; i++) {
      const value = results[i]!;
      replies.push(value instanceof TributaryError ? { id: group[i]!.id, ok: false, error: wire(value) } : { id: group[i]!.id, ok: true, value });
    }
  } catch (err) {
    if (staged.length > 0) {
      fencedEpoch = Math.max(fencedEpoch, ...staged.map((e) => e.epoch));
      post({ kind: 'stagedLost', fromSeq: staged[0]!.seq, epoch: fencedEpoch });
    }
    const error = wire(err);
    for (const req of group) replies.push({ id: req.id, ok: false, error });
  }
  return replies;
}

function runOther(request: Exclude<WriterRequest, AppendRequest>): WriterReply {
  try {
    switch (request.op) {
      case 'createTopic':
        return { id: request.id, ok: true, value: store.createTopic(request.topic, request.partitions) };
      case 'retention': {
        const value = store.applyRetention(request.policies);
        if (value.batchesDeleted > 0) vacuumDue = true;
        return { id: request.id, ok: true, value };
      }
      case 'reclaim': {
        const value = store.reclaim(request.diskBytes, new Map(request.floors));
        // Over budget: every free page goes back, none is kept for the next appends.
        keepFreeBytes = 0;
        vacuumDue = true;
        return { id: request.id, ok: true, value };
      }
      case 'appendStored': {
        const batches = request.batches.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
        const value = store.appendStored(request.partitionId, batches, { contiguous: true });
        uncheckpointedCommits = true;
        return { id: request.id, ok: true, value };
      }
      case 'appendEntries': {
        const value = store.appendEntries(unpackEntries(request.entries), new Map(request.leaderLogStarts ?? []));
        uncheckpointedCommits = true;
        return { id: request.id, ok: true, value };
      }
      case 'truncateEntries': {
        const value = store.truncateEntriesAfter(request.seq);
        uncheckpointedCommits = true;
        vacuumDue = true;
        return { id: request.id, ok: true, value };
      }
      case 'truncate': {
        const value = store.truncateTo(request.partitionId, request.offset);
        uncheckpointedCommits = true;
        vacuumDue = true;
        return { id: request.id, ok: true, value };
      }
      case 'allocateProducerId':
        return { id: request.id, ok: true, value: store.allocateProducerId() };
      case 'releaseKeys':
        return { id: request.id, ok: true, value: store.releaseKeys(request.producer, request.sequence) };
      case 'close':
        close();
        return { id: request.id, ok: true, value: null };
    }
  } catch (err) {
    return { id: request.id, ok: false, error: wire(err) };
  }
}

function close(): void {
  if (syncTimer !== undefined) clearInterval(syncTimer);
  try {
    store.markClean();
    // Fold the WAL into the database file so a clean stop leaves one self-contained file.
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    // If marking failed (disk full), the next start simply runs recovery.
    db.close();
    port.unref();
  }
}

start();
