// Which new connections get in: at most `perSecond` new ones per second (a token bucket), at most
// `maxConnections` open at once across all listeners, and at most `maxPerAddress` of them from one
// source address (address-key.ts). A reconnect storm after a network blip then reaches the broker
// at a pace it can authenticate (scrypt costs milliseconds per client) instead of all at once, and
// one host cannot take every slot; refused devices retry with their own back-off.
//
// The rate is checked first, so a connection refused for the rate never displaces one waiting for
// its CONNECT (pending-connects.ts), which the listeners do when a count limit is reached.

export type Refusal =
  | 'too many connections'
  | 'too many connections from one address'
  | 'connection rate exceeded'
  /** Closed to make room: it had not sent its CONNECT when a newer connection needed the slot. */
  | 'displaced while waiting for CONNECT'
  /** Closed because its CONNECT was not complete within mqtt.limits.connectTimeout. */
  | 'CONNECT timeout';

export interface AdmissionLimits {
  maxConnections: number;
  maxPerAddress: number;
  perSecond: number;
}

export class ConnectionAdmission {
  #open = 0;
  readonly #byAddress = new Map<string, number>();
  #tokens: number;
  #refilledAt = performance.now();

  constructor(readonly limits: AdmissionLimits) {
    this.#tokens = limits.perSecond;
  }

  get open(): number {
    return this.#open;
  }

  openFrom(address: string): number {
    return this.#byAddress.get(address) ?? 0;
  }

  /** Null when the connection may proceed (call release() when it closes), else why not. */
  admit(address: string): Refusal | null {
    this.#refill();
    if (this.#tokens < 1) return 'connection rate exceeded';
    if (this.#open >= this.limits.maxConnections) return 'too many connections';
    if (this.openFrom(address) >= this.limits.maxPerAddress) return 'too many connections from one address';
    this.#tokens -= 1;
    this.#open += 1;
    this.#byAddress.set(address, this.openFrom(address) + 1);
    return null;
  }

  release(address: string): void {
    this.#open -= 1;
    const left = this.openFrom(address) - 1;
    if (left > 0) this.#byAddress.set(address, left);
    else this.#byAddress.delete(address);
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.limits.perSecond, this.#tokens + ((now - this.#refilledAt) / 1000) * this.limits.perSecond);
    this.#refilledAt = now;
  }
}
