// What a replay does at a stored batch that fails its checks (TRIB_LOG_CORRUPT_BATCH), and how a
// record stream tells its reader. The NDJSON stream carries two kinds of control line besides
// records (docs/replay.md, "Corrupt batches"), both objects with one key, never "topic":
//
//   {"error":{"code":"TRIB_LOG_CORRUPT_BATCH","message":"…","retriable":false,"topic":"t",
//             "partition":0,"fromOffset":30,"toOffset":39}}        the last line: the stream stops
//   {"skipped":{…the same fields…}}                                  onCorrupt=skip passed over it
import { CorruptBatchError, type TributaryError, UsageError } from '../../broker/errors.js';

/** fail: the replay stops at a corrupt batch with its error; skip: passes over it and reports it. */
export type CorruptPolicy = 'fail' | 'skip';

export function parseCorruptPolicy(text: string | undefined, what: string): CorruptPolicy {
  if (text === undefined || text === 'fail') return 'fail';
  if (text === 'skip') return 'skip';
  throw new UsageError(`${what} must be fail or skip, got '${text}'`);
}

/** A corrupt batch passed over: where, and why. */
export interface SkipReport {
  code: 'TRIB_LOG_CORRUPT_BATCH';
  topic: string;
  partition: number;
  fromOffset: number;
  toOffset: number;
  message: string;
}

export function skipReport(err: CorruptBatchError): SkipReport {
  return { code: err.code, topic: err.topic, partition: err.partition, fromOffset: err.baseOffset, toOffset: err.lastOffset, message: err.message };
}

export function errorLine(err: TributaryError): Buffer {
  return Buffer.from(`${JSON.stringify({ error: err.toJSON() })}\n`);
}

export function skippedLine(err: CorruptBatchError): Buffer {
  return Buffer.from(`${JSON.stringify({ skipped: skipReport(err) })}\n`);
}

const ERROR_START = Buffer.from('{"error":');
const SKIPPED_START = Buffer.from('{"skipped":');

/** Whether the line at `start` of `buf` is a control line rather than a record. */
export function controlLineAt(buf: Buffer, start: number): 'error' | 'skipped' | null {
  if (buf[start + 2] === 0x74) return null; // {"topic": — the usual case, decided on one byte
  if (buf.compare(ERROR_START, 0, ERROR_START.length, start, start + ERROR_START.length) === 0) return 'error';
  if (buf.compare(SKIPPED_START, 0, SKIPPED_START.length, start, start + SKIPPED_START.length) === 0) return 'skipped';
  return null;
}

/** The error a stream's {"error":…} line or x-tributary-error trailer carries. */
export interface StreamErrorBody {
  code: string;
  message: string;
  topic?: string;
  partition?: number;
  fromOffset?: number;
  toOffset?: number;
}

/**
 * Runs `read`; when it throws a CorruptBatchError and the policy is skip, hands the error to
 * `skip` (which must move the source past the batch) and reads again.
 */
export function readSkipping<T>(read: () => T, policy: CorruptPolicy, skip: (err: CorruptBatchError) => void): T {
  for (;;) {
    try {
      return read();
    } catch (err) {
      if (policy !== 'skip' || !(err instanceof CorruptBatchError)) throw err;
      skip(err);
    }
  }
}

/** The index of the first control line among the lines of buf[0, end), or -1 (the usual case). */
export function firstControlLine(buf: Buffer, end: number): number {
  for (let start = 0; start < end; start = buf.indexOf(0x0a, start) + 1) {
    if (controlLineAt(buf, start) !== null) return start;
  }
  return -1;
}
