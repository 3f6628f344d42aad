// Appends held after a failure that may pass (a full disk, a storage error: `retriable` on the
// TributaryError), retried with backoff. Both ingest paths use it: the fast path holds a
// connection's failed publishes together and retries them on one timer (fast-path.ts); the aedes
// path holds each publish on its own (front-end.ts storeWithRetry). The publisher's socket is not
// read meanwhile, so nothing piles up; the client's own keep-alive ends a wait that lasts too long.
import { TributaryError } from '../../broker/errors.js';
import { backoffDelay } from '../backoff.js';

/** Held appends are retried from 100 ms, doubling up to 5 s (with jitter). */
export const RETRY_FIRST_MS = 100;
export const RETRY_MAX_MS = 5000;

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
