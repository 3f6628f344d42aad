// Session expiry: a persistent session whose client has not come back within `expiry` is removed
// with its subscriptions and queue, so that abandoned sessions do not grow for ever. Swept once at
// start-up (before clients can connect) and then on a timer.
import type { Logger } from 'pino';
import type { SqlitePersistence } from './sqlite-persistence.js';

/** How often the sweep runs: the expiry itself, but at least every hour and at most every second. */
export function sweepInterval(expiryMs: number): number {
  return Math.min(Math.max(expiryMs, 1000), 3_600_000);
}

export class SessionExpiry {
  #timer: NodeJS.Timeout | null = null;
  #sweeping: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly persistence: Pick<SqlitePersistence, 'expireSessions'>,
    private readonly expiryMs: number,
    private readonly logger: Logger,
    private readonly onExpired: (sessions: number) => void = () => undefined,
  ) {}

  /** Sweeps now, then every sweepInterval(expiry) until close(). */
  async start(): Promise<void> {
    await this.sweep();
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.sweep(), sweepInterval(this.expiryMs));
    this.#timer.unref();
  }

  /** Removes the sessions offline for longer than the expiry; a sweep already running is joined. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.persistence
      .expireSessions(this.expiryMs)
      .then(
        (expired) => {
          for (const { clientId, messages } of expired) this.logger.info({ clientId, queuedMessages: messages, expiryMs: this.expiryMs }, 'persistent session expired: its subscriptions and queue are removed');
          if (expired.length > 0) this.onExpired(expired.length);
        },
        (err: unknown) => this.logger.error({ err }, 'session expiry sweep failed'),
      )
      .finally(() => {
        this.#sweeping = null;
      });
    return this.#sweeping;
  }

  /** Stops the timer and waits for a sweep under way. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#sweeping;
  }
}
