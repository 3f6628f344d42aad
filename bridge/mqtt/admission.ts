// Which new connections get in: at most `maxConnections` open at once across all listeners, and
// at most `perSecond` new ones per second (a token bucket). A reconnect storm after a network blip
// then reaches the broker at a pace it can authenticate (scrypt costs milliseconds per client)
// instead of all at once; refused devices retry with their own back-off.

export type Refusal = 'too many connections' | 'connection rate exceeded';

export class ConnectionAdmission {
  #open = 0;
  #tokens: number;
  #refilledAt = performance.now();

  constructor(
    readonly maxConnections: number,
    readonly perSecond: number,
  ) {
    this.#tokens = perSecond;
  }

  get open(): number {
    return this.#open;
  }

  /** Null when the connection may proceed (call release() when it closes), else why not. */
  admit(): Refusal | null {
    if (this.#open >= this.maxConnections) return 'too many connections';
    this.#refill();
    if (this.#tokens < 1) return 'connection rate exceeded';
    this.#tokens -= 1;
    this.#open += 1;
    return null;
  }

  release(): void {
    this.#open -= 1;
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#refilledAt) / 1000) * this.perSecond);
    this.#refilledAt = now;
  }
}
