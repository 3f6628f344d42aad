// The main thread's handle on the writer thread. Requests made in one synchronous run of code
// (one socket read's worth of publishes, say) travel in one message, sent as soon as that run
// ends: the writer starts committing while the main thread goes on to the next socket. While the
// writer has requests to answer (a commit under way), what is made meanwhile waits for the answer
// and travels in one message with it (64 KiB of batches or more go at once; with log.commitDelay
// nothing waits): the writer would only have taken them into its next group then anyway. Each batch's bytes are transferred, not
// copied.
import { Worker } from 'node:worker_threads';
import { blockOfViews, blockTransfers, packEntries, unpackEntries } from './entry-block.js';
import {
  CorruptBatchError,
  OffsetMismatchError,
  StaleEpochError,
  DiskFullError,
  LogClosedError,
  ReadOnlyStorageError,
  StorageError,
  TopicConflictError,
  TributaryError,
  IncompatibleLogError,
  LogDamagedError,
  OutOfOrderSequenceError,
  ProducerFencedError,
  NotLeaderError,
} from '../errors.js';
import type {
  AppendResult,
  CommitSize,
  IdempotenceKey,
  PartitionState,
  RecoveryReport,
  RetentionPolicy,
  ReclaimResult,
  RetentionResult,
  WireError,
  WriterInit,
  WriterMessage,
  WriterReply,
  WriterRequest,
} from './writer-protocol.js';

/**
 * While the writer thread has requests to answer, what is made meanwhile waits for the answer and
 * travels in one message, unless it holds at least this many bytes of batches (then it goes at
 * once, so that a busy writer always has the next group waiting).
 */
const SEND_AT_ONCE_BYTES = 64 * 1024;

/** Schedules a flush at the end of this synchronous run: cheaper than queueMicrotask, which makes an async resource per call. */
const SETTLED = Promise.resolve();

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };
/** A request before it gets its id (Omit distributed over the union's members). */
type Unsent = WriterRequest extends infer R ? (R extends WriterRequest ? Omit<R, 'id'> : never) : never;

export interface WriterReady {
  states: PartitionState[];
  recovery: RecoveryReport | null;
  /** What opening changed in an older log's layout, in words. */
  notes: string[];
}

export class LogWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private outbox: WriterRequest[] = [];
  private transfers: ArrayBuffer[] = [];
  private flushScheduled = false;
  /** Requests sent to the writer thread and not yet answered. */
  private unanswered = 0;
  /** The outbox waits for the writer's answer (flush). */
  private held = false;
  /** Messages sent to the writer thread since start. */
  messagesSent = 0;
  private readonly flushLater = (): void => this.flush();
  private nextId = 1;
  private closed = false;
  private crashed: Error | null = null;
  /** Told the size of every group commit (the log's observer). */
  onCommit: ((commit: CommitSize) => void) | null = null;
  /** Told of each group's rows before their commit (WriterInit.stageBeforeSync). */
  onStaged: ((entries: ReturnType<typeof unpackEntries>) => void) | null = null;
  /** Told that a staged group failed to commit: rows from `fromSeq` are lost, appends of `epoch` and older are refused. */
  onStagedLost: ((fromSeq: number, epoch: number) => void) | null = null;
  /** Told the writer's last position after each drain whose replies arrived (staged rows up to it are committed or lost). */
  onSettled: ((lastSeq: number) => void) | null = null;

  private constructor(private readonly init: WriterInit) {
    this.worker = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: init });
  }

  /** Starts the writer thread; resolves once it has opened (and if needed recovered) the log. */
  static start(init: WriterInit): Promise<{ writer: LogWriter; ready: WriterReady }> {
    const writer = new LogWriter(init);
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void => reject(new StorageError(`log writer exited during start (code ${code})`));
      writer.worker.once('error', reject);
      writer.worker.once('exit', onExit);
      writer.worker.once('message', (message: WriterMessage) => {
        writer.worker.off('error', reject);
        writer.worker.off('exit', onExit);
        if (message.kind === 'failed') {
          void writer.worker.terminate();
          reject(writer.toError(message.error));
          return;
        }
        if (message.kind !== 'ready') return reject(new StorageError(`log writer sent ${message.kind} before ready`));
        writer.listen();
        resolve({ writer, ready: { states: message.states, recovery: message.recovery, notes: message.notes } });
      });
    });
  }

  private listen(): void {
    this.worker.on('message', (message: WriterMessage) => {
      if (message.kind === 'staged') {
        this.onStaged?.(unpackEntries(message.entries));
        return;
      }
      if (message.kind === 'stagedLost') {
        this.onStagedLost?.(message.fromSeq, message.epoch);
        return;
      }
      if (message.kind !== 'replies') return;
      this.unanswered -= message.replies.length;
      // What waited for this answer leaves first, so that the writer starts on it at once.
      if (this.held && this.unanswered === 0) this.send();
      if (this.onCommit !== null) for (const commit of message.commits) this.onCommit(commit);
      this.onSettled?.(message.lastSeq);
      this.settle(message.replies);
    });
    this.worker.on('error', (err) => this.fail(new StorageError(`log writer failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new StorageError(`log writer exited unexpectedly (code ${code})`));
    });
  }

  /** Appends one encoded batch. Its ArrayBuffer is transferred: the caller must not reuse it. */
  append(partitionId: number, batch: Buffer, leaderEpoch: number, idempotenceKey?: IdempotenceKey): Promise<AppendResult> {
    const owned = ownedCopy(batch);
    this.transfers.push(owned.buffer as ArrayBuffer);
    const request: Unsent =
      idempotenceKey === undefined ? { op: 'append', partitionId, batch: owned, leaderEpoch } : { op: 'append', partitionId, batch: owned, leaderEpoch, idempotenceKey };
    return this.request(request) as Promise<AppendResult>;
  }

  /** Appends a client's checked batch (producer state kept); a copy of it is transferred, never the caller's memory. */
  appendClient(partitionId: number, batch: Buffer, leaderEpoch: number): Promise<AppendResult> {
    const owned = Buffer.allocUnsafeSlow(batch.byteLength);
    batch.copy(owned);
    this.transfers.push(owned.buffer as ArrayBuffer);
    return this.request({ op: 'append', partitionId, batch: owned, leaderEpoch, client: true }) as Promise<AppendResult>;
  }

  allocateProducerId(): Promise<number> {
    return this.request({ op: 'allocateProducerId' }) as Promise<number>;
  }

  /** A follower's append: stored batches, offsets and epochs kept (copied, not transferred). */
  appendStored(partitionId: number, batches: readonly Buffer[]): Promise<AppendResult[]> {
    return this.request({ op: 'appendStored', partitionId, batches: batches.map((b) => Uint8Array.from(b)) }) as Promise<AppendResult[]>;
  }

  /**
   * A follower's append of replication-log entries. The batches are copied into one block of
   * their own, which is transferred with its index (entry-block.ts; the fetch answer's buffer
   * stays with the reader); or, with `giveUp` (the buffer every batch views, which the caller
   * gives up), that buffer is transferred as it is, without a copy.
   */
  appendEntries(entries: readonly { partitionId: number; seq: number; batch: Buffer }[], leaderLogStarts: ReadonlyMap<number, number> = new Map(), giveUp?: ArrayBuffer): Promise<PartitionState[]> {
    const block = (giveUp === undefined ? null : blockOfViews(entries, giveUp)) ?? packEntries(entries);
    this.transfers.push(...blockTransfers(block));
    return this.request({ op: 'appendEntries', entries: block, leaderLogStarts: [...leaderLogStarts] }) as Promise<PartitionState[]>;
  }

  truncateEntries(seq: number): Promise<PartitionState[]> {
    return this.request({ op: 'truncateEntries', seq }) as Promise<PartitionState[]>;
  }

  truncate(partitionId: number, offset: number): Promise<PartitionState> {
    return this.request({ op: 'truncate', partitionId, offset }) as Promise<PartitionState>;
  }

  releaseKeys(producer: string, sequence: number | null): Promise<number> {
    return this.request({ op: 'releaseKeys', producer, sequence }) as Promise<number>;
  }

  createTopic(topic: string, partitions: number): Promise<PartitionState[]> {
    return this.request({ op: 'createTopic', topic, partitions }) as Promise<PartitionState[]>;
  }

  retention(policies: RetentionPolicy[]): Promise<RetentionResult> {
    return this.request({ op: 'retention', policies }) as Promise<RetentionResult>;
  }

  reclaim(diskBytes: number, floors: Map<number, number>): Promise<ReclaimResult> {
    return this.request({ op: 'reclaim', diskBytes, floors: [...floors] }) as Promise<ReclaimResult>;
  }

  /** The writer thread failed; every request since fails with this error. */
  get failure(): Error | null {
    return this.crashed;
  }

  /** Lets queued requests finish, marks the log clean and stops the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.crashed === null) await this.request({ op: 'close' });
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }

  private request(unsent: Unsent): Promise<unknown> {
    if (this.closed) return Promise.reject(new LogClosedError());
    if (this.crashed !== null) return Promise.reject(this.crashed);
    const id = this.nextId++;
    this.outbox.push({ ...unsent, id } as WriterRequest);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      void SETTLED.then(this.flushLater);
    }
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    // At one publish per socket read (a thousand devices), a synchronous run brings a record or two
    // and the writer is mostly in a commit: a message per run would cost a postMessage, a wake-up
    // and a reply per record or two. Held until the answer, they share one message; a commit
    // would not have started on them sooner, as the writer takes what queued during its commit.
    // (Not with log.commitDelay: there the writer waits for more appends to arrive before it commits.)
    if (this.init.commitDelayMs === 0 && this.unanswered > 0 && this.transfers.reduce((sum, t) => sum + t.byteLength, 0) < SEND_AT_ONCE_BYTES) {
      this.held = true;
      return;
    }
    this.send();
  }

  private send(): void {
    this.held = false;
    const batch = this.outbox;
    const transfers = this.transfers;
    this.outbox = [];
    this.transfers = [];
    this.unanswered += batch.length;
    this.messagesSent++;
    // One message per synchronous run, not per event-loop turn: waiting for the turn's end would
    // hold the writer idle while the main thread handles other sockets (measured in bench:ingest).
    this.worker.postMessage(batch, transfers);
  }

  private settle(replies: WriterReply[]): void {
    for (const reply of replies) {
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) continue;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(this.toError(reply.error));
    }
  }

  private fail(err: Error): void {
    this.crashed = err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  private toError(wire: WireError): TributaryError {
    switch (wire.code) {
      case 'TRIB_LOG_NOT_LEADER':
        return new NotLeaderError(wire.message);
      case 'TRIB_LOG_DISK_FULL':
        return new DiskFullError(this.init.dataDir);
      case 'TRIB_LOG_READ_ONLY':
        return new ReadOnlyStorageError(this.init.dataDir);
      case 'TRIB_TOPIC_CONFLICT':
        return new TopicConflictError(wire.message);
      case 'TRIB_LOG_INCOMPATIBLE':
        return new IncompatibleLogError(wire.message);
      case 'TRIB_LOG_OFFSET_MISMATCH': {
        const f = wire.fields!;
        const prefix = `${f.topic}-${f.partition}: `;
        return new OffsetMismatchError(String(f.topic), Number(f.partition), Number(f.expected), Number(f.actual), wire.message.slice(prefix.length));
      }
      case 'TRIB_LOG_STALE_EPOCH': {
        const f = wire.fields!;
        return new StaleEpochError(String(f.topic), Number(f.partition), Number(f.latestEpoch), Number(f.epoch));
      }
      case 'TRIB_LOG_CORRUPT_BATCH': {
        const f = wire.fields!;
        return new CorruptBatchError(String(f.topic), Number(f.partition), Number(f.baseOffset), String(f.reason), Number(f.lastOffset));
      }
      case 'TRIB_LOG_DAMAGED':
        return new LogDamagedError(this.init.dataDir, wire.message);
      case 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE': {
        const f = wire.fields!;
        return new OutOfOrderSequenceError(String(f.topic), Number(f.partition), Number(f.producerId), Number(f.expected), Number(f.actual));
      }
      case 'TRIB_LOG_PRODUCER_FENCED': {
        const f = wire.fields!;
        return new ProducerFencedError(String(f.topic), Number(f.partition), Number(f.producerId), Number(f.currentEpoch), Number(f.epoch));
      }
      default:
        return new StorageError(wire.message);
    }
  }
}

/**
 * The batch in memory of its own, to transfer to the writer thread: itself when it owns its whole
 * ArrayBuffer (encodeBatch's), else a copy in a buffer of its own. Never Buffer.from(batch), which
 * may take a slice of Node's shared pool: transferring that would detach the pool.
 */
function ownedCopy(batch: Buffer): Buffer {
  if (batch.byteOffset === 0 && batch.byteLength === batch.buffer.byteLength) return batch;
  const copy = Buffer.allocUnsafeSlow(batch.byteLength);
  batch.copy(copy);
  return copy;
}
