// The error base of Tributary, and the log's own error table. Every failure a caller may act on
// has a class with a stable `code` (TRIB_*, documented in docs/errors.md) and a `retriable` flag.
// Retry decisions read `retriable`, never the message text.
//
// The base lives in broker/ because broker/ is the bottom layer: every part may import it, and it
// imports nothing. Each part of bridge/ keeps its own table beside its code (bridge/config/errors.ts,
// bridge/mqtt/errors.ts, ...) on this base; bridge/error-codes.ts gathers every part's codes into the
// one documented list (test/errors.test.ts checks it against docs/errors.md).

/** The codes of the log's classes below (and of UsageError, which the log's salvage throws too). */
export const LOG_ERROR_CODES = [
  'TRIB_USAGE',
  'TRIB_UNKNOWN_TOPIC',
  'TRIB_UNKNOWN_PARTITION',
  'TRIB_TOPIC_CONFLICT',
  'TRIB_OFFSET_OUT_OF_RANGE',
  'TRIB_LOG_CORRUPT_BATCH',
  'TRIB_INVALID_RECORD',
  'TRIB_LOG_DISK_FULL',
  'TRIB_LOG_READ_ONLY',
  'TRIB_LOG_STORAGE',
  'TRIB_LOG_CLOSED',
  'TRIB_DATA_DIR_LOCKED',
  'TRIB_LOG_INCOMPATIBLE',
  'TRIB_LOG_DAMAGED',
  'TRIB_DATA_DIR',
  'TRIB_LOG_OFFSET_MISMATCH',
  'TRIB_LOG_STALE_EPOCH',
  'TRIB_LOG_DISK_BUDGET',
  'TRIB_LOG_INVALID_BATCH',
  'TRIB_LOG_OUT_OF_ORDER_SEQUENCE',
  'TRIB_LOG_PRODUCER_FENCED',
  'TRIB_LOG_NOT_LEADER',
] as const;
export type LogErrorCode = (typeof LOG_ERROR_CODES)[number];

/** The shape of every stable code; each part narrows it to its own list (`TributaryError<C>`). */
export type TributaryCode = `TRIB_${string}`;

export interface TributaryErrorOptions {
  cause?: unknown;
}

/**
 * The base of every Tributary error. `C` is the owning part's list of codes, so a class whose code
 * is not in its part's list does not compile.
 */
export abstract class TributaryError<C extends TributaryCode = TributaryCode> extends Error {
  abstract readonly code: C;
  abstract readonly retriable: boolean;

  constructor(message: string, options: TributaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }

  toJSON(): { code: C; message: string; retriable: boolean } {
    return { code: this.code, message: this.message, retriable: this.retriable };
  }
}

/**
 * The caller asked for something invalid (an argument, a flag, a query parameter, a range). On the
 * base, not in one caller's table, because the log itself throws it (salvage's directories) as
 * well as its callers, and the base is the one module every part may import.
 */
export class UsageError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_USAGE';
  readonly retriable = false;
}

export class UnknownTopicError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_UNKNOWN_TOPIC';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    known?: readonly string[],
  ) {
    super(`unknown topic '${topic}'${known === undefined ? '' : known.length === 0 ? ' (the log has no topics yet)' : ` (topics: ${known.join(', ')})`}`);
  }
}

export class UnknownPartitionError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_UNKNOWN_PARTITION';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly partitionCount: number,
  ) {
    super(
      `topic '${topic}' has no partition ${partition} (valid: 0..${partitionCount - 1})`,
    );
  }
}

export class TopicConflictError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_TOPIC_CONFLICT';
  readonly retriable = false;
}

export class OffsetOutOfRangeError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_OFFSET_OUT_OF_RANGE';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly logStartOffset: number,
    readonly logEndOffset: number,
  ) {
    super(
      `offset ${offset} is out of range for ${topic}-${partition}: ` +
        `valid offsets are ${logStartOffset}..${logEndOffset} (log start .. log end)`,
    );
  }
}

export class CorruptBatchError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_CORRUPT_BATCH';
  readonly retriable = false;
  /**
   * The offsets that cannot be served, baseOffset..lastOffset (inclusive): from the stored row's
   * key to just before the next row's, so the range is known even when the batch's own header is
   * damaged. Equal to baseOffset when nothing better is known.
   */
  readonly lastOffset: number;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly baseOffset: number,
    readonly reason: string,
    lastOffset?: number,
  ) {
    const last = lastOffset ?? baseOffset;
    super(`corrupt record batch in ${topic}-${partition} at offset ${baseOffset}: ${reason}; offsets ${baseOffset}..${last} cannot be read`);
    this.lastOffset = last;
  }

  override toJSON(): { code: LogErrorCode; message: string; retriable: boolean; topic: string; partition: number; fromOffset: number; toOffset: number } {
    return { ...super.toJSON(), topic: this.topic, partition: this.partition, fromOffset: this.baseOffset, toOffset: this.lastOffset };
  }
}

export class InvalidRecordError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_INVALID_RECORD';
  readonly retriable = false;
}

export class DiskFullError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_DISK_FULL';
  // Retriable: once space is freed (retention, an operator) the same append succeeds.
  readonly retriable = true;
  constructor(
    readonly dataDir: string,
    options?: TributaryErrorOptions,
  ) {
    super(`no space left for the log in ${dataDir}; append refused, stored data is intact`, options);
  }
}

export class DiskBudgetError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_DISK_BUDGET';
  // Retriable: once the forwarder has sent the oldest data upstream it may go, and appends resume.
  readonly retriable = true;
  constructor(
    readonly dataDir: string,
    readonly reason: string,
  ) {
    super(`the disk budget of ${dataDir} is reached (${reason}) and nothing more may be deleted: everything left is not yet forwarded upstream; appends are held until it is`);
  }
}

export class ReadOnlyStorageError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_READ_ONLY';
  readonly retriable = false;
  constructor(
    readonly dataDir: string,
    options?: TributaryErrorOptions,
  ) {
    super(`the data directory ${dataDir} is not writable (read-only file system or permissions); writes are refused, stored data is intact`, options);
  }
}

export class StorageError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_STORAGE';
  readonly retriable = true;
}

export class LogClosedError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_CLOSED';
  readonly retriable = false;
  constructor() {
    super('the log is closed');
  }
}

export class DataDirLockedError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_DATA_DIR_LOCKED';
  readonly retriable = false;
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dataDir} is in use by another Tributary process (pid ${pid})`);
  }
}

export class IncompatibleLogError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_INCOMPATIBLE';
  readonly retriable = false;
}

/**
 * SQLite found the log's file itself damaged (a B-tree page, the schema) where the log cannot
 * work around it: at start-up, or in a write. Not retriable: the same file fails the same way.
 * `tributary salvage` copies every intact batch into a new data directory.
 */
export class LogDamagedError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_DAMAGED';
  readonly retriable = false;
  constructor(
    readonly dataDir: string,
    message: string,
    options?: TributaryErrorOptions,
  ) {
    super(message, options);
  }

  static describe(dataDir: string, detail: string): string {
    return (
      `the log database in ${dataDir} is damaged (${detail}); stop the node and run ` +
      `'tributary salvage --data-dir ${dataDir} --to NEW_DIR' to copy every intact batch into a new data directory`
    );
  }
}

/** The data directory cannot be made: the path, or a folder on it, is a file (or a broken link). */
export class DataDirError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_DATA_DIR';
  readonly retriable = false;
  constructor(
    readonly dataDir: string,
    problem: string,
    options?: TributaryErrorOptions,
  ) {
    super(`cannot use ${dataDir} as the data directory: ${problem}`, options);
  }
}

/**
 * A write named an offset the partition cannot take there: a follower's batch that does not start
 * at the log end offset, or a truncation offset inside a batch (not on a batch boundary).
 */
export class OffsetMismatchError extends TributaryError {
  readonly code = 'TRIB_LOG_OFFSET_MISMATCH';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The offset the write needed (the log end; for a truncation the nearest boundary below). */
    readonly expected: number,
    /** The offset it was given. */
    readonly actual: number,
    detail: string,
  ) {
    super(`${topic}-${partition}: ${detail}`);
  }
}

/** A leader epoch older than the partition's latest (a deposed leader's append, or becomeLeader going back). */
export class StaleEpochError extends TributaryError {
  readonly code = 'TRIB_LOG_STALE_EPOCH';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly latestEpoch: number,
    readonly epoch: number,
  ) {
    super(`${topic}-${partition}: leader epoch ${epoch} is older than the partition's latest epoch ${latestEpoch}`);
  }
}

/** What is wrong with a client's batch (Log.appendBatch): the Kafka endpoint answers each with its own error code. */
export type InvalidBatchProblem = 'corrupt' | 'compressed' | 'invalid';

/**
 * A client's RecordBatch that the log does not store: 'corrupt' (CRC, lengths, records that do not
 * parse), 'compressed' (a codec the log does not store) or 'invalid' (well-formed, but not what a
 * client may send: not magic 2, not exactly one batch, a control or transactional batch, offsets
 * that are not dense). Nothing was written.
 */
export class InvalidBatchError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_INVALID_BATCH';
  readonly retriable = false;
  constructor(
    readonly problem: InvalidBatchProblem,
    readonly reason: string,
  ) {
    super(`record batch refused (${problem}): ${reason}`);
  }
}

/**
 * An idempotent producer's batch whose sequence does not follow the last one the partition stored
 * for that producer and epoch (a batch was lost in between, or sent out of order). Nothing was written.
 */
export class OutOfOrderSequenceError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly producerId: number,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`${topic}-${partition}: producer ${producerId} sent sequence ${actual}, expected ${expected}`);
  }
}

/** An idempotent producer's batch of an older epoch than the partition holds for that producer id (a fenced, older incarnation). Nothing was written. */
export class ProducerFencedError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_PRODUCER_FENCED';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly producerId: number,
    readonly currentEpoch: number,
    readonly epoch: number,
  ) {
    super(`${topic}-${partition}: producer ${producerId} used epoch ${epoch}, older than its current epoch ${currentEpoch}`);
  }
}

/**
 * The log takes no leader appends now: this node is a replication follower, or a leader that lost
 * its majority (docs/replication.md). Not retriable here: the client goes to the leader.
 */
export class NotLeaderError extends TributaryError<LogErrorCode> {
  readonly code = 'TRIB_LOG_NOT_LEADER';
  readonly retriable = false;
  constructor(readonly reason: string) {
    super(`this node takes no appends: ${reason}`);
  }
}
