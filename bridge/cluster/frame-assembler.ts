// Reads replication frames (int32 size, then that many bytes; messages.ts) out of bytes that the
// caller reuses: a peer connection reads its socket into one buffer of its own (net's `onread`),
// and each frame is copied into a buffer allocated once, at its size, when its size prefix arrives.
// That buffer is the frame's alone (never a slice of Node's shared pool), so a follower can hand a
// fetch answer's batches to its log's writer thread by transferring it (Log.appendEntries giveUp).
//
// Why not FrameDecoder (bridge/kafka/protocol), which keeps the socket's chunks and joins them:
// a follower's fetch answers are large (up to cluster.fetchMaxBytes) and come several times per
// fsync, and each chunk the socket hands over is a new ArrayBuffer, then the joined frame another.
// V8 counts the ArrayBuffers allocated since its last full collection against the old generation's
// limit, which the gateway keeps tight (bridge/gc-tuning.ts): on a follower, which allocates few
// objects besides, those buffers were what started most of its full collections.
import { FrameSizeError } from '../kafka/errors.js';

export class FrameAssembler {
  /** The frame being filled; null while its size prefix is still being read. */
  private frame: Buffer | null = null;
  private filled = 0;
  private readonly prefix = Buffer.alloc(4);
  private prefixFilled = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly minBytes: number,
  ) {}

  /**
   * Copies `bytes` in; returns the frames they complete (bodies without the size prefix), in order,
   * each a buffer of its own (its whole ArrayBuffer, which the receiver may transfer). `bytes` may be overwritten once this returns. A size outside
   * [minBytes, maxBytes] throws FrameSizeError before anything of that frame is held.
   */
  push(bytes: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (this.frame === null) {
        const n = Math.min(4 - this.prefixFilled, bytes.length - at);
        bytes.copy(this.prefix, this.prefixFilled, at, at + n);
        this.prefixFilled += n;
        at += n;
        if (this.prefixFilled < 4) break;
        const size = this.prefix.readInt32BE(0);
        this.prefixFilled = 0;
        if (size > this.maxBytes || size < this.minBytes) throw new FrameSizeError(size, this.maxBytes);
        this.frame = Buffer.allocUnsafeSlow(size);
        this.filled = 0;
      }
      const n = Math.min(this.frame.length - this.filled, bytes.length - at);
      bytes.copy(this.frame, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.frame.length) {
        frames.push(this.frame);
        this.frame = null;
      }
    }
    return frames;
  }
}
