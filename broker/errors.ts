// The one error table of Tributary. Every failure a caller may act on has a class here with a
// stable `code` (documented in docs/errors.md; a test keeps the two in step) and a `retriable`
// flag. Retry decisions read `retriable`, never the message text.
//
// It lives in broker/ because broker/ is the bottom layer: bridge/ imports it, never the reverse.

/** Every stable error code. Each class below takes its code from here; docs/errors.md documents each. */
export const ERROR_CODES = [
  'TRIB_CONFIG_INVALID',
  'TRIB_CONFIG_FILE',
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
  'TRIB_LISTEN_FAILED',
  'TRIB_TLS_INVALID',
  'TRIB_MQTT_SESSION_STORE',
  // HTTP API replies that have no exception class of their own
  'TRIB_HTTP_METHOD',
  'TRIB_HTTP_NOT_FOUND',
  'TRIB_HTTP_INTERNAL',
  'TRIB_HTTP_UNAUTHORIZED',
  'TRIB_REPLAY_TARGET',
  'TRIB_UPSTREAM_UNAVAILABLE',
  'TRIB_UPSTREAM_AUTH',
  'TRIB_UPSTREAM_FENCED',
  'TRIB_UPSTREAM_CURSOR_CONFLICT',
  'TRIB_HTTP_MEDIA_TYPE',
  'TRIB_UPSTREAM_CURSOR_TOPIC',
  'TRIB_LOG_DAMAGED',
  'TRIB_DATA_DIR',
  'TRIB_HTTP_HOST',
  'TRIB_HTTP_ORIGIN',
  'TRIB_HTTP_BAD_REQUEST',
  'TRIB_LOG_OFFSET_MISMATCH',
  'TRIB_LOG_STALE_EPOCH',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface TributaryErrorOptions {
  cause?: unknown;
}

export abstract class TributaryError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly retriable: boolean;

  constructor(message: string, options: TributaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }

  toJSON(): { code: ErrorCode; message: string; retriable: boolean } {
    return { code: this.code, message: this.message, retriable: this.retriable };
  }
}

/** One configuration problem: the dotted key and what is wrong with it. */
export interface ConfigProblem {
  key: string;
  message: string;
}

export class ConfigInvalidError extends TributaryError {
  readonly code = 'TRIB_CONFIG_INVALID';
  readonly retriable = false;
  constructor(
    readonly problems: readonly ConfigProblem[],
    readonly source: string,
  ) {
    super(
      `invalid configuration (${source}):\n` +
        problems.map((p) => `  - ${p.key}: ${p.message}`).join('\n'),
    );
  }
}

export class ConfigFileError extends TributaryError {
  readonly code = 'TRIB_CONFIG_FILE';
  readonly retriable = false;
  constructor(
    readonly file: string,
    reason: string,
    options?: TributaryErrorOptions,
  ) {
    super(`cannot read config file ${file}: ${reason}`, options);
  }
}

export class UsageError extends TributaryError {
  readonly code = 'TRIB_USAGE';
  readonly retriable = false;
}

export class UnknownTopicError extends TributaryError {
  readonly code = 'TRIB_UNKNOWN_TOPIC';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    known?: readonly string[],
  ) {
    super(`unknown topic '${topic}'${known === undefined ? '' : known.length === 0 ? ' (the log has no topics yet)' : ` (topics: ${known.join(', ')})`}`);
  }
}

export class UnknownPartitionError extends TributaryError {
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

export class TopicConflictError extends TributaryError {
  readonly code = 'TRIB_TOPIC_CONFLICT';
  readonly retriable = false;
}

export class OffsetOutOfRangeError extends TributaryError {
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

export class CorruptBatchError extends TributaryError {
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

  override toJSON(): { code: ErrorCode; message: string; retriable: boolean; topic: string; partition: number; fromOffset: number; toOffset: number } {
    return { ...super.toJSON(), topic: this.topic, partition: this.partition, fromOffset: this.baseOffset, toOffset: this.lastOffset };
  }
}

export class InvalidRecordError extends TributaryError {
  readonly code = 'TRIB_INVALID_RECORD';
  readonly retriable = false;
}

export class DiskFullError extends TributaryError {
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

export class ReadOnlyStorageError extends TributaryError {
  readonly code = 'TRIB_LOG_READ_ONLY';
  readonly retriable = false;
  constructor(
    readonly dataDir: string,
    options?: TributaryErrorOptions,
  ) {
    super(`the data directory ${dataDir} is not writable (read-only file system or permissions); writes are refused, stored data is intact`, options);
  }
}

export class StorageError extends TributaryError {
  readonly code = 'TRIB_LOG_STORAGE';
  readonly retriable = true;
}

export class LogClosedError extends TributaryError {
  readonly code = 'TRIB_LOG_CLOSED';
  readonly retriable = false;
  constructor() {
    super('the log is closed');
  }
}

export class DataDirLockedError extends TributaryError {
  readonly code = 'TRIB_DATA_DIR_LOCKED';
  readonly retriable = false;
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dataDir} is in use by another Tributary process (pid ${pid})`);
  }
}

export class IncompatibleLogError extends TributaryError {
  readonly code = 'TRIB_LOG_INCOMPATIBLE';
  readonly retriable = false;
}

export class ListenError extends TributaryError {
  readonly code = 'TRIB_LISTEN_FAILED';
  readonly retriable = false;
  constructor(
    readonly what: string,
    readonly host: string,
    readonly port: number,
    options?: TributaryErrorOptions,
  ) {
    const reason = (options?.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' ? 'the port is already in use' : String((options?.cause as Error | undefined)?.message ?? 'unknown error');
    super(`cannot listen for ${what} on ${host}:${port}: ${reason}`, options);
  }
}

/** The TLS listener's certificate, key or CA could not be read or does not parse. */
export class TlsInvalidError extends TributaryError {
  readonly code = 'TRIB_TLS_INVALID';
  readonly retriable = false;
  constructor(
    readonly file: string,
    reason: string,
    options?: TributaryErrorOptions,
  ) {
    super(`TLS: cannot use '${file}': ${reason}`, options);
  }
}

/** The MQTT session store (subscriptions, retained messages, wills, queued deliveries) failed. */
export class SessionStoreError extends TributaryError {
  readonly code = 'TRIB_MQTT_SESSION_STORE';
  readonly retriable = false;
  constructor(message: string, options?: TributaryErrorOptions) {
    super(`MQTT session store: ${message}`, options);
  }
}

/** The MQTT broker a replay publishes into (--to-mqtt) refused the connection or a publish. */
export class ReplayTargetError extends TributaryError {
  readonly code = 'TRIB_REPLAY_TARGET';
  // Retriable: with --reader the next run resumes after the last acknowledged record.
  readonly retriable = true;
  constructor(message: string, options?: TributaryErrorOptions) {
    super(`--to-mqtt: ${message}`, options);
  }
}

/** Kafka could not be reached or failed a request; the forwarder retries with backoff. */
export class UpstreamUnavailableError extends TributaryError {
  readonly code = 'TRIB_UPSTREAM_UNAVAILABLE';
  readonly retriable = true;
}

/** Kafka refused the SASL credentials (or the TLS handshake). Retried, since an operator may fix the cluster side. */
export class UpstreamAuthError extends TributaryError {
  readonly code = 'TRIB_UPSTREAM_AUTH';
  readonly retriable = true;
}

/** A newer producer with this node's transactional id took over: another process forwards as this node. */
export class UpstreamFencedError extends TributaryError {
  readonly code = 'TRIB_UPSTREAM_FENCED';
  readonly retriable = true;
}

/**
 * The upstream cursors of this node were written by another log (another gateway with the same
 * node.id, or this data directory was reset): resuming from them would skip or mix records.
 */
export class UpstreamCursorConflictError extends TributaryError {
  readonly code = 'TRIB_UPSTREAM_CURSOR_CONFLICT';
  readonly retriable = false;
}

/**
 * The exactly-once cursor topic exists upstream without cleanup.policy compact: Kafka would delete
 * cursors by age or size, and the forwarder would then send everything still stored again.
 */
export class UpstreamCursorTopicError extends TributaryError {
  readonly code = 'TRIB_UPSTREAM_CURSOR_TOPIC';
  // Retried: the topic's config can be fixed on the cluster without restarting the gateway.
  readonly retriable = true;
}

/**
 * SQLite found the log's file itself damaged (a B-tree page, the schema) where the log cannot
 * work around it: at start-up, or in a write. Not retriable: the same file fails the same way.
 * `tributary salvage` copies every intact batch into a new data directory.
 */
export class LogDamagedError extends TributaryError {
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
export class DataDirError extends TributaryError {
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
