// Refuses an MQTT packet by its announced size before its body is read. aedes's parser buffers a
// whole packet before handing it over, and a fixed header may announce up to 256 MiB
// [MQTT-2.2.3]; without this guard one client could make the broker hold that much per connection.
// The guard reads only fixed headers (type byte + Remaining Length). It passes every chunk through
// unchanged, except to the ingest fast path (fast-path.ts), which takes whole PUBLISH packets off
// the stream before aedes parses it.
import type { Duplex } from 'node:stream';
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
 * turn (write-coalescer.ts). An oversized or malformed packet destroys the connection with the
 * scanner's error. `onFirstPacket` runs once the first packet (the CONNECT, [MQTT-3.1.0-1]) has
 * arrived whole.
 *
 * The socket itself goes to aedes, its read() wrapped: aedes takes bytes only through
 * `conn.read(null)` on 'readable'. Wrapping streams around it instead (a Transform joined to a
 * Writable by Duplex.from) cost three more streams per connection, ~15 kB each at rest, and their
 * allocations on every chunk, which bench:footprint showed as garbage under load.
 */
export function guardConnection(socket: Duplex, limits: PacketLimits, intake?: StreamIntake, onFirstPacket?: () => void): Duplex {
  const scanner = new FrameScanner(limits.maxRemainingLength, limits.maxConnectLength);
  let firstPacket = onFirstPacket;
  const read = socket.read.bind(socket);
  socket.read = (size?: number): unknown => {
    if (intake?.refuseRead()) return null;
    const chunk: unknown = read(size);
    if (chunk === null || chunk === undefined) return chunk;
    try {
      if (intake !== undefined && scanner.atBoundary && intake.active()) return intake.take(chunk as Buffer);
      scanner.scan(chunk as Uint8Array);
      if (firstPacket !== undefined && scanner.packets > 0) {
        firstPacket();
        firstPacket = undefined;
      }
    } catch (err) {
      socket.destroy(err as Error);
      return null;
    }
    return chunk;
  };
  coalesceWrites(socket);
  return socket;
}
