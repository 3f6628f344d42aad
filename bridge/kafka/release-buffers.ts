// Gives the memory of Buffers back at once, instead of at V8's next full collection. Each stored
// batch a Fetch serves is a fresh Buffer that better-sqlite3 copies out of SQLite: memory outside
// the JavaScript heap (an ArrayBuffer's backing store) that V8 frees only when a collection finds
// the Buffer dead. Node 20's V8 counts the external memory allocated since the last full
// collection against the old generation's limit, so a consumer reading at full speed set off a
// full mark-compact every ~10 MB served (the headroom that bridge/gc-tuning.ts's growth factor
// leaves over a ~15 MB heap), although the JavaScript heap itself hardly grew:
// `--trace-incremental-marking` showed each marking started for the allocation limit with the
// heap at 15-16 MB of a 25 MB limit. Few young-generation collections run meanwhile (the heap
// allocates little per batch), so the Buffers' memory waited for those full collections.
//
// Transferring an ArrayBuffer detaches it: its backing store leaves it, and V8 takes its bytes off
// the external count at once. A message posted to a closed MessagePort is still serialized, its
// transfer list included (HTML's "message port post message steps": serialize with transfer, then
// drop the message when the port is disentangled; Node does the same), and then dropped, which
// frees the backing stores. So postMessage on a closed port is "free these now". (Node 20 has no
// ArrayBuffer.prototype.transfer; structuredClone's transfer would move the memory into a clone.)
//
// Only for Buffers nobody else holds: a detached Buffer reads as empty to every holder. Only a
// Buffer that is the whole of its ArrayBuffer is released (never a slice of a shared one, such as
// Node's 8 KiB pool for small Buffers, which never hands out a whole pool).
import { MessageChannel } from 'node:worker_threads';

const { port1: closedPort, port2 } = new MessageChannel();
closedPort.close();
port2.close();

/**
 * Frees the memory of `buffers` now: afterwards each reads as empty (length 0). Call it only for
 * Buffers the caller owns outright, once nothing will read them again (a Fetch answer's batches,
 * once the socket has taken them). Returns the bytes released.
 */
export function releaseBuffers(buffers: Iterable<Buffer>): number {
  const transfer = new Set<ArrayBuffer>();
  let bytes = 0;
  for (const buf of buffers) {
    const whole = buf.buffer;
    if (!(whole instanceof ArrayBuffer) || buf.byteOffset !== 0 || buf.byteLength !== whole.byteLength || whole.byteLength === 0) continue;
    if (transfer.has(whole)) continue;
    transfer.add(whole);
    bytes += whole.byteLength;
  }
  if (transfer.size > 0) closedPort.postMessage(null, [...transfer]);
  return bytes;
}
