// How full each persistent session's queue is, and whether one more message fits: counted here as
// messages are queued and removed, so that a bound is checked without reading the queue. What a
// full queue refuses is counted per session and reported once, not once per message.
import type { Logger } from 'pino';

/** Most messages and bytes (packet + payload as stored) queued for one offline session; null: no bound. */
export interface QueueBounds {
  maxMessages: number | null;
  maxBytes: number | null;
}

export type QueueFullReason = 'messages' | 'bytes';

interface QueueSize {
  messages: number;
  bytes: number;
}

export class QueueSizes {
  readonly #sizes = new Map<string, QueueSize>();
  /** Clients connected now: their queue is bounded by their connection, not by QueueBounds. */
  readonly #online = new Set<string>();
  /** Messages refused per offline client since it was last online. */
  readonly #refused = new Map<string, number>();

  constructor(
    private readonly bounds: QueueBounds | undefined,
    private readonly logger: Logger | undefined,
    private readonly onFull: ((clientId: string, reason: QueueFullReason) => void) | undefined,
  ) {}

  /** Sets a client's queue size as found in the store (at start-up). */
  load(clientId: string, size: QueueSize): void {
    this.#sizes.set(clientId, { ...size });
  }

  /**
   * Whether one more message of `bytes` fits in an offline client's queue. A full queue refuses
   * the newest message and keeps what it holds, as Mosquitto does beyond max_queued_messages: the
   * oldest messages are the ones the subscriber has waited for longest, and every message is in
   * the log anyway, where it can be replayed. MQTT 3.1.1 §4.1 leaves how much session state a
   * server keeps to the server. A connected client's queue is its messages in flight, bounded by
   * its connection instead: refusing one of those would make aedes drop the client.
   */
  admit(clientId: string, bytes: number): boolean {
    const bounds = this.bounds;
    if (bounds === undefined || this.#online.has(clientId)) return true;
    const size = this.#sizes.get(clientId) ?? { messages: 0, bytes: 0 };
    const reason: QueueFullReason | null =
      bounds.maxMessages !== null && size.messages + 1 > bounds.maxMessages ? 'messages' : bounds.maxBytes !== null && size.bytes + bytes > bounds.maxBytes ? 'bytes' : null;
    if (reason === null) return true;
    const refused = (this.#refused.get(clientId) ?? 0) + 1;
    this.#refused.set(clientId, refused);
    if (refused === 1) {
      this.logger?.warn(
        { clientId, reason, queuedMessages: size.messages, queuedBytes: size.bytes, maxMessages: bounds.maxMessages, maxBytes: bounds.maxBytes },
        'offline session queue full: newer messages for it are not queued (reported once until it reconnects)',
      );
    }
    this.onFull?.(clientId, reason);
    return false;
  }

  /** A client's queue grew or shrank by `messages` and `bytes` (negative: removed). */
  resize(clientId: string, messages: number, bytes: number): void {
    const size = this.#sizes.get(clientId) ?? { messages: 0, bytes: 0 };
    size.messages += messages;
    size.bytes += bytes;
    if (size.messages <= 0) this.#sizes.delete(clientId);
    else this.#sizes.set(clientId, size);
  }

  /** Messages queued for `clientId`, or for all clients. */
  messages(clientId?: string): number {
    if (clientId !== undefined) return this.#sizes.get(clientId)?.messages ?? 0;
    let total = 0;
    for (const size of this.#sizes.values()) total += size.messages;
    return total;
  }

  isOnline(clientId: string): boolean {
    return this.#online.has(clientId);
  }

  /** The client connected: its queue is unbounded while it is, and what was refused meanwhile is reported. */
  online(clientId: string): void {
    this.#online.add(clientId);
    const refused = this.#refused.get(clientId);
    if (refused === undefined) return;
    this.logger?.warn({ clientId, dropped: refused }, 'session back online; messages not queued for it while its queue was full');
    this.#refused.delete(clientId);
  }

  offline(clientId: string): void {
    this.#online.delete(clientId);
  }

  /** The client's session is gone, queue and all. */
  forget(clientId: string): void {
    this.#sizes.delete(clientId);
    this.#refused.delete(clientId);
  }
}
