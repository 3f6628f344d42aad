// One job: what happens to a publish whose log append failed, for both ingest paths. A failure
// that may pass (a full disk, a storage error: `retriable` on the TributaryError) is held and
// retried with backoff (HeldAppends); any other ends the connection without an acknowledgement.
// AppendFailures makes that choice and reports it, once for the whole front end. The fast path
// holds a connection's failed publishes together and retries them on one timer (fast-path.ts);
// the aedes path holds each publish on its own (front-end.ts storeWithRetry). The publisher's
// socket is not read meanwhile, so nothing piles up; the client's own keep-alive ends a wait that
// lasts too long. While any publish is held, new connections are refused "server busy"
// (front-end.ts authenticate): AppendFailures counts the held publishes exactly, each path telling
// it when one is first held and when it is settled (stored, refused, failed for good, or dropped
// with its connection).
import { DiskBudgetError, DiskFullError, TributaryError } from '../../broker/errors.js';
import { backoffDelay } from '../backoff.js';
import type { Logger } from '../logger.js';
import { AppendFailedError } from './errors.js';

/** Held appends are retried from 100 ms, doubling up to 5 s (with jitter). */
export const RETRY_FIRST_MS = 100;
export const RETRY_MAX_MS = 5000;

/**
 * Whether an append failed for want of disk (full, or at the disk budget): an MQTT 5.0 QoS 1/2
 * publish is then answered 0x97 (quota exceeded) instead of held, on both paths.
 */
export function quotaExceeded(err: unknown): err is DiskFullError | DiskBudgetError {
  return err instanceof DiskFullError || err instanceof DiskBudgetError;
}

/** Whether an append failure may pass, so that the append is worth retrying. */
export function retriableAppendFailure(err: unknown): err is TributaryError {
  return err instanceof TributaryError && err.retriable;
}

export class HeldAppends<T> {
  #held: T[] = [];
  #timer: NodeJS.Timeout | null = null;
  #attempt = 0;

  /**
   * `retry` gets what was held, at the end of the backoff. `unref`: the timer does not keep a
   * stopping process alive.
   */
  constructor(
    private readonly retry: (held: T[]) => void,
    private readonly unref: boolean,
  ) {}

  /** Holds `item` for the next retry. Returns the delay of the retry this starts, or -1 if one was already due. */
  hold(item: T): number {
    this.#held.push(item);
    if (this.#timer !== null) return -1;
    const delay = backoffDelay(this.#attempt++, RETRY_FIRST_MS, RETRY_MAX_MS);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const held = this.#held;
      this.#held = [];
      this.retry(held);
    }, delay);
    if (this.unref) this.#timer.unref();
    return delay;
  }

  /** An append went through: the next failure is retried after the first delay again. */
  succeeded(): void {
    this.#attempt = 0;
  }
}

/** Whether a failed append is retried, and the reports of both outcomes. One per front end. */
export class AppendFailures {
  /** Retries started (FrontEndStats.appendRetries). */
  retries = 0;
  /** Appends failed for good, each ending its connection (FrontEndStats.refused['log append failed']). */
  failures = 0;
  #stopping = false;
  /** Publishes held right now, on both paths: each counted once from its first hold to its end. */
  #held = 0;

  constructor(
    private readonly logger: Logger,
    private readonly onProblem?: (summary: string, detail: string) => void,
  ) {}

  /** The node is stopping: nothing is held from now on. */
  stop(): void {
    this.#stopping = true;
  }

  /** Whether any publish is held right now: the log holds back, and new connections are refused (server busy). */
  get holding(): boolean {
    return this.#held > 0;
  }

  /** A publish is held for the first time; `released` is to follow once, whatever its end. */
  held(): void {
    this.#held++;
  }

  /** A publish counted by `held` is settled: stored, refused, failed for good, or dropped with its connection. */
  released(): void {
    this.#held--;
  }

  /** Whether an append that failed with `err` is to be held and retried. */
  retried(err: unknown): err is TributaryError {
    return !this.#stopping && retriableAppendFailure(err);
  }

  /** An append of `clientId`'s is retried in `delayMs`; the publisher is held meanwhile. */
  retrying(clientId: string, err: Error, delayMs: number): void {
    this.retries++;
    this.onProblem?.('log append failed; publisher held', err.message);
    this.logger.warn({ err, clientId, retryInMs: delayMs }, 'log append failed; holding the publisher until it succeeds');
  }

  /** An append of `clientId`'s failed for good: counted and reported once. Returns the error to close the connection with. */
  failed(clientId: string, err: unknown): AppendFailedError {
    const error = new AppendFailedError(err);
    this.failures++;
    this.onProblem?.('publish refused: log append failed', `client '${clientId}': ${error.message}`);
    return error;
  }
}
