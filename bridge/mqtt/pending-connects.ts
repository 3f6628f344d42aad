// Connections admitted but whose CONNECT has not arrived yet (nor, for TLS and WebSocket, their
// handshake). A socket that never sends CONNECT costs a slot and a file descriptor while it waits;
// a flood of them once locked real clients out until the CONNECT timeout freed them.
//
// Three bounds, oldest first out:
// - each waits at most `timeoutMs` (mqtt.limits.connectTimeout), from its TCP accept;
// - at most `maxPerAddress` wait from one source address: a new one from that address displaces
//   the address's oldest waiting one, so a flood from one host only ever displaces itself;
// - at most `max` wait in all: a new one displaces the oldest waiting one, wherever it is from.
// Displacing the oldest, not refusing the newest, is what keeps a real client able to get in
// during a flood, also from the flooding address (a device behind the same NAT): it sends its
// CONNECT right after its TCP handshake and stops waiting long before the flood has opened
// another `maxPerAddress` sockets behind it. Refusing the newest would lock it out until the
// flood's sockets timed out, and the flood can open new ones faster than that.
// A connection that has sent its CONNECT is never displaced: it is a client, not a stray socket.
//
// Keep `maxPerAddress` at least the admission rate's burst (connectionsPerSecond): connections
// that arrive together are accepted in one go before any of them is read, so with a smaller bound a
// burst of real devices from one NAT address would displace its own first members.

export interface PendingLimits {
  max: number;
  maxPerAddress: number;
  timeoutMs: number;
}

export interface Waiting {
  /** addressKey() of its source. */
  readonly address: string;
}

export class PendingConnects<T extends Waiting> {
  /** Insertion order is arrival order: the first is the oldest. */
  readonly #all = new Map<T, NodeJS.Timeout>();
  readonly #byAddress = new Map<string, Set<T>>();

  constructor(readonly limits: PendingLimits) {}

  get size(): number {
    return this.#all.size;
  }

  countFrom(address: string): number {
    return this.#byAddress.get(address)?.size ?? 0;
  }

  /** The oldest waiting connection from `address`, or from anywhere without one. */
  oldest(address?: string): T | undefined {
    const from = address === undefined ? this.#all.keys() : this.#byAddress.get(address)?.values();
    return from?.next().value;
  }

  /** The waiting connection a new one from `address` must displace to keep within the bounds, if any. */
  toDisplace(address: string): T | undefined {
    if (this.countFrom(address) >= this.limits.maxPerAddress) return this.oldest(address);
    if (this.#all.size >= this.limits.max) return this.oldest();
    return undefined;
  }

  /** Starts `connection`'s wait; `onTimeout` runs if it is still waiting after timeoutMs. */
  add(connection: T, onTimeout: (connection: T) => void): void {
    const timer = setTimeout(() => {
      if (this.settle(connection)) onTimeout(connection);
    }, this.limits.timeoutMs);
    timer.unref();
    this.#all.set(connection, timer);
    let fromAddress = this.#byAddress.get(connection.address);
    if (fromAddress === undefined) this.#byAddress.set(connection.address, (fromAddress = new Set()));
    fromAddress.add(connection);
  }

  /** Ends the wait (CONNECT arrived, or the connection closed). Whether it was waiting. Idempotent. */
  settle(connection: T): boolean {
    const timer = this.#all.get(connection);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.#all.delete(connection);
    const fromAddress = this.#byAddress.get(connection.address)!;
    fromAddress.delete(connection);
    if (fromAddress.size === 0) this.#byAddress.delete(connection.address);
    return true;
  }

  /** Ends every wait without running its timeout (the listeners are closing). */
  clear(): void {
    for (const timer of this.#all.values()) clearTimeout(timer);
    this.#all.clear();
    this.#byAddress.clear();
  }
}
