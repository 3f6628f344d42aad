// Refuses an MQTT packet by its announced size before its body is read. aedes's parser buffers a
// whole packet before handing it over, and a fixed header may announce up to 256 MiB
// [MQTT-2.2.3]; without this guard one client could make the broker hold that much per connection.
// The guard reads only fixed headers (type byte + Remaining Length) and passes every chunk through
// unchanged.
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

export class MalformedLengthError extends Error {
  constructor() {
    super('malformed Remaining Length (more than 4 bytes) [MQTT-2.2.3]');
  }
}

/** Follows packet boundaries across chunks; throws when a packet announces more than the limit. */
export class FrameScanner {
  /** Body bytes of the current packet not yet seen. */
  #bodyLeft = 0;
  /** Inside a fixed header: -1 before the type byte, else Remaining Length bytes read so far. */
  #headerBytes = -1;
  #length = 0;
  #multiplier = 1;
  #inHeader = true;

  constructor(readonly maxRemainingLength: number) {}

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
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      if (++this.#headerBytes > 4) throw new MalformedLengthError();
      if (byte & 0x80) continue;
      if (this.#length > this.maxRemainingLength) throw new PacketTooLargeError(this.#length, this.maxRemainingLength);
      this.#bodyLeft = this.#length;
      if (this.#bodyLeft === 0) this.#startHeader();
      else this.#inHeader = false;
    }
  }

  #startHeader(): void {
    this.#inHeader = true;
    this.#headerBytes = -1;
    this.#length = 0;
    this.#multiplier = 1;
  }
}

/**
 * Makes a connection check what aedes reads with the scanner, and gathers its writes per event-loop
 * turn (write-coalescer.ts). An oversized or malformed packet destroys the connection with the
 * scanner's error.
 *
 * The socket itself goes to aedes, its read() wrapped: aedes takes bytes only through
 * `conn.read(null)` on 'readable'. Wrapping streams around it instead (a Transform joined to a
 * Writable by Duplex.from) cost three more streams per connection, ~15 kB each at rest, and their
 * allocations on every chunk, which bench:footprint showed as garbage under load.
 */
export function guardConnection(socket: Duplex, maxRemainingLength: number): Duplex {
  const scanner = new FrameScanner(maxRemainingLength);
  const read = socket.read.bind(socket);
  socket.read = (size?: number): unknown => {
    const chunk: unknown = read(size);
    if (chunk === null || chunk === undefined) return chunk;
    try {
      scanner.scan(chunk as Uint8Array);
    } catch (err) {
      socket.destroy(err as Error);
      return null;
    }
    return chunk;
  };
  coalesceWrites(socket);
  return socket;
}
