// Splits a connection's bytes into request frames: an int32 size, then that many bytes (the
// protocol guide, "Requests and Responses"). The size is checked before the body is read: above
// the limit, or too small to hold a request header, the connection is refused (FrameSizeError)
// with nothing buffered, so a 2 GiB length prefix costs four bytes. A frame is copied into one
// buffer once, when its last byte arrives.
import { FrameSizeError } from '../errors.js';

/** The smallest request header: api key, api version, correlation id, client id length (v1). */
export const MIN_FRAME_BYTES = 10;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The size of the frame being read, once its prefix is in; -1 before. */
  private size = -1;
  /** The smallest frame accepted: a request header, or 0 while bare SASL tokens are read (SaslHandshake v0). */
  minBytes = MIN_FRAME_BYTES;

  constructor(private readonly maxBytes: number) {}

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Adds bytes; returns the frames they complete (bodies without the size prefix), in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.size < 0) {
        if (this.buffered < 4) break;
        const size = this.peekInt32();
        if (size > this.maxBytes || size < this.minBytes) {
          this.chunks = [];
          this.buffered = 0;
          throw new FrameSizeError(size, this.maxBytes);
        }
        this.size = size;
        this.take(4);
      }
      if (this.buffered < this.size) break;
      frames.push(this.take(this.size));
      this.size = -1;
    }
    return frames;
  }

  private peekInt32(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readInt32BE(0);
    return Buffer.concat(this.chunks, 4).readInt32BE(0);
  }

  /** Removes the first `bytes` bytes and returns them as one buffer. */
  private take(bytes: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= bytes) {
      out = first.subarray(0, bytes);
      if (first.length === bytes) this.chunks.shift();
      else this.chunks[0] = first.subarray(bytes);
    } else {
      out = Buffer.allocUnsafe(bytes);
      let filled = 0;
      while (filled < bytes) {
        const head = this.chunks[0]!;
        const n = Math.min(head.length, bytes - filled);
        head.copy(out, filled, 0, n);
        filled += n;
        if (n === head.length) this.chunks.shift();
        else this.chunks[0] = head.subarray(n);
      }
    }
    this.buffered -= bytes;
    return out;
  }
}
