// Refuses an MQTT packet by its announced size before its body is read. aedes's parser buffers a
// whole packet before handing it over, and a fixed header may announce up to 256 MiB
// [MQTT-2.2.3]; without this guard one client could make the broker hold that much per connection.
// The guard reads only fixed headers (type byte + Remaining Length). It passes every chunk through
// unchanged, except to the ingest fast path (fast-path.ts), which takes whole PUBLISH packets off
// the stream before aedes parses it.
import type { Duplex } from 'node:stream';
import { awaitsBytes, clientOf, reportClientError } from './aedes-internals.js';
import { lingerOnDestroy } from './lingering-close.js';
import { ReceiveMaximumExceededError, ReceiveWindow } from './receive-window.js';
import { coalesceWrites } from './write-coalescer.js';

export class PacketTooLargeError extends Error {
  constructor(
    readonly announced: number,
    readonly limit: number,
  ) {
    super(`packet of ${announced} bytes exceeds the limit of ${limit}`);
  }
}

export class NotConnectError extends Error {
  constructor() {
    super('the first packet is not a CONNECT [MQTT-3.1.0-1]');
  }
}

export class MalformedLengthError extends Error {
  constructor() {
    super('malformed Remaining Length (more than 4 bytes) [MQTT-2.2.3]');
  }
}

/** CONNECT's fixed header: type 1, flags 0 [MQTT-2.2.2-1]. */
const CONNECT = 0x10;

/** Follows packet boundaries across chunks; throws when a packet announces more than the limit. */
export class FrameScanner {
  /** Body bytes of the current packet not yet seen. */
  #bodyLeft = 0;
  /** Inside a fixed header: -1 before the type byte, else Remaining Length bytes read so far. */
  #headerBytes = -1;
  #length = 0;
  #multiplier = 1;
  #inHeader = true;
  #packets = 0;

  /**
   * `maxConnectLength`: the most the first packet, the CONNECT, may announce. Before it, a
   * connection has proven nothing, and what it announces is held in memory until it arrives: with
   * every limit on waiting connections full, a packet limit made for publishes would let them
   * hold a gigabyte.
   */
  constructor(
    readonly maxRemainingLength: number,
    readonly maxConnectLength = maxRemainingLength,
    /** Called with each packet's first byte (type and flags) as it arrives; may throw to refuse it. */
    private readonly onPacket?: (first: number) => void,
  ) {}

  /** Whole packets scanned so far. */
  get packets(): number {
    return this.#packets;
  }

  /** Everything scanned so far ends with a whole packet. */
  get atBoundary(): boolean {
    return this.#inHeader && this.#headerBytes < 0;
  }

  scan(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.#inHeader) {
        const take = Math.min(this.#bodyLeft, chunk.length - i);
        i += take;
        this.#bodyLeft -= take;
        if (this.#bodyLeft === 0) this.#startHeader();
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#headerBytes < 0) {
        this.#headerBytes = 0; // the type byte
        if (this.#packets === 0 && byte !== CONNECT) throw new NotConnectError();
        this.onPacket?.(byte);
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      if (++this.#headerBytes > 4) throw new MalformedLengthError();
      if (byte & 0x80) continue;
      const limit = this.#packets === 0 ? Math.min(this.maxConnectLength, this.maxRemainingLength) : this.maxRemainingLength;
      if (this.#length > limit) throw new PacketTooLargeError(this.#length, limit);
      this.#bodyLeft = this.#length;
      if (this.#bodyLeft === 0) this.#startHeader();
      else this.#inHeader = false;
    }
  }

  #startHeader(): void {
    this.#packets++; // one has just ended
    this.#inHeader = true;
    this.#headerBytes = -1;
    this.#length = 0;
    this.#multiplier = 1;
  }
}

/**
 * The whole length (fixed header + body) the packet starting at `at` announces, or -1 when `data`
 * ends inside its fixed header. Throws as the scanner does on a malformed or oversized Remaining
 * Length.
 */
export function announcedLength(data: Uint8Array, at: number, maxRemainingLength: number): number {
  let length = 0;
  let multiplier = 1;
  for (let i = at + 1; i < at + 5; i++) {
    if (i >= data.length) return -1;
    const byte = data[i]!;
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if (byte & 0x80) continue;
    if (length > maxRemainingLength) throw new PacketTooLargeError(length, maxRemainingLength);
    return i + 1 - at + length;
  }
  throw new MalformedLengthError();
}

/** The whole length of the packet starting at `at`, or -1 when `data` ends before it does. */
export function packetLength(data: Uint8Array, at: number, maxRemainingLength: number): number {
  const length = announcedLength(data, at, maxRemainingLength);
  return length >= 0 && at + length <= data.length ? length : -1;
}

/** The whole size of a packet whose Remaining Length is `remainingLength`: type byte, the length's own bytes, body. */
export function wireSize(remainingLength: number): number {
  const lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remainingLength;
}

/** Where the body of the packet at `at` starts (after its type byte and Remaining Length); the packet is whole. */
export function bodyStart(data: Uint8Array, at: number): number {
  let i = at + 1;
  while (data[i]! & 0x80) i++;
  return i + 1;
}

/** The most a packet may announce (Remaining Length), and the first packet, the CONNECT. */
export interface PacketLimits {
  maxRemainingLength: number;
  maxConnectLength: number;
  /** The Receive Maximum announced to MQTT 5.0 clients, enforced on them (receive-window.ts); none if absent. */
  receiveMaximum?: number;
}

/** Takes what it handles itself off a connection's stream (fast-path.ts). */
export interface StreamIntake {
  /**
   * Whether to refuse a read now, because the intake has as much in flight as it may; a refused
   * read is followed by a 'readable' event on the stream once it may read again.
   */
  refuseRead(): boolean;
  /** Whether it takes from the stream now; it may start only where a packet starts. */
  active(): boolean;
  /** Takes from `chunk`; returns what aedes gets (whole packets only), or null for nothing. */
  take(chunk: Buffer): Buffer | null;
}

/**
 * Makes a connection check what aedes reads with the scanner, and gathers its writes per event-loop
 * turn (write-coalescer.ts). An oversized or malformed packet ends the connection with the
 * scanner's error: an MQTT 5.0 client is told why first, with a DISCONNECT carrying the reason code
 * (0x95 Packet too large [MQTT-3.2.2-15], 0x93 Receive Maximum exceeded [MQTT-3.3.4-9], 0x81
 * Malformed Packet), a 3.1.1 client has no such packet and the connection is just closed.
 * `onFirstPacket` runs once the first packet (the CONNECT, [MQTT-3.1.0-1]) has arrived whole.
 *
 * The socket itself goes to aedes, its read() wrapped: aedes takes bytes only through
 * `conn.read(null)` on 'readable'. With an intake, its push() is wrapped too (the socket calls it
 * with each read): a read that arrives while aedes waits for one goes to the intake before the
 * stream buffers it (takeAtOnce below). Wrapping streams around it instead (a Transform joined to a
 * Writable by Duplex.from) cost three more streams per connection, ~15 kB each at rest, and their
 * allocations on every chunk, which bench:footprint showed as garbage under load.
 *
 * Every read is scanned, also what the intake (the fast path) takes, so that the Receive Maximum
 * counts the publishes of both paths; the scanner reads fixed headers only and skips bodies. On a
 * connection that is not MQTT 5.0 the window stops reading (receive-window.ts); the scanner still
 * enforces the packet size limits.
 */
export function guardConnection(socket: Duplex, limits: PacketLimits, intake?: StreamIntake, onFirstPacket?: () => void): Duplex {
  const window = limits.receiveMaximum === undefined ? undefined : new ReceiveWindow(limits.receiveMaximum, () => clientOf(socket)?.version);
  const scanner = new FrameScanner(limits.maxRemainingLength, limits.maxConnectLength, window === undefined ? undefined : (first) => window.received(first));
  let firstPacket = onFirstPacket;
  let refused = false;
  let intakeOn = false;
  /** Whole packets for aedes, cut from a read the intake took at once (takeAtOnce); aedes's next read. */
  let forAedes: Buffer | null = null;
  const read = socket.read.bind(socket);
  const push = socket.push.bind(socket);
  const fail = (err: unknown): null => {
    refused = true;
    refuse(socket, err as Error, read);
    return null;
  };
  socket.read = (size?: number): unknown => {
    if (refused) return null;
    if (forAedes !== null) {
      const packets = forAedes;
      forAedes = null;
      return packets;
    }
    if (intake?.refuseRead()) return null;
    const chunk: unknown = read(size);
    if (chunk === null || chunk === undefined) return chunk;
    try {
      // The intake may start only where a packet starts, and never stops once started.
      if (!intakeOn && intake !== undefined && scanner.atBoundary && intake.active()) intakeOn = true;
      scanner.scan(chunk as Uint8Array);
      if (intakeOn) return intake!.take(chunk as Buffer);
      if (firstPacket !== undefined && scanner.packets > 0) {
        firstPacket();
        firstPacket = undefined;
      }
    } catch (err) {
      return fail(err);
    }
    return chunk;
  };
  if (intake !== undefined) {
    /**
     * A read that arrives while aedes waits for one, with nothing buffered before it, goes to the
     * intake at once, as aedes's read() would hand it over a moment later: the stream does not
     * buffer it, schedule a 'readable' and have aedes read it back. At one PUBLISH per read (a
     * thousand devices, each sending now and then) that machinery was a good part of a message's
     * cost (docs/performance.md). What the intake leaves to aedes waits in `forAedes` for aedes's
     * read, which a 'readable' asks for; reads arriving meanwhile are buffered by the stream, so
     * that aedes gets every packet in arrival order.
     */
    const takeAtOnce = (chunk: Buffer): boolean => {
      if (!intakeOn || refused || forAedes !== null || socket.readableLength > 0 || socket.destroyed) return false;
      const client = clientOf(socket);
      if (client === null || !awaitsBytes(client) || intake.refuseRead()) return false;
      try {
        scanner.scan(chunk);
        forAedes = intake.take(chunk);
      } catch (err) {
        fail(err);
        return true;
      }
      if (forAedes !== null) {
        queueMicrotask(() => {
          if (!socket.destroyed) socket.emit('readable');
        });
      }
      return true;
    };
    socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (Buffer.isBuffer(chunk) && chunk.length > 0 && takeAtOnce(chunk)) return true;
      return push(chunk, encoding);
    };
  }
  coalesceWrites(socket);
  if (window !== undefined) countAnswers(socket, window);
  return socket;
}

/** The MQTT 5.0 DISCONNECT reason code for what the guard refuses. */
function disconnectReasonCode(err: Error): number {
  if (err instanceof PacketTooLargeError) return 0x95;
  if (err instanceof ReceiveMaximumExceededError) return err.reasonCode;
  return 0x81; // Malformed Packet: a Remaining Length of more than 4 bytes
}

/**
 * Ends the connection for `err`: a connected MQTT 5.0 client gets a DISCONNECT with the reason code
 * first, and the close after it lingers (lingering-close.ts) so that what the client still sends
 * does not reset the connection before it has read the DISCONNECT. `read` is the socket's own.
 */
function refuse(socket: Duplex, err: Error, read: () => unknown): void {
  const client = clientOf(socket);
  if (client === null || client.version !== 5 || !client.connected || client.closed) {
    socket.destroy(err);
    return;
  }
  // aedes reports it as a client error, as the connection's error would be, then writes the
  // DISCONNECT and closes the connection (its close() destroys the socket once the client is closed).
  reportClientError(client, err);
  lingerOnDestroy(socket, read, () => client.closed);
  client.disconnect({ reasonCode: disconnectReasonCode(err) }, () => undefined);
}

/** Lets `window` see what is written to the client (after the write coalescer: every write call). */
function countAnswers(socket: Duplex, window: ReceiveWindow): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]): boolean => {
    const chunk = args[0];
    if (chunk instanceof Uint8Array) window.sent(chunk);
    else if (typeof chunk === 'string') window.sentOther(Buffer.byteLength(chunk, typeof args[1] === 'string' ? (args[1] as BufferEncoding) : 'utf8'));
    return write(...args);
  }) as Duplex['write'];
}
