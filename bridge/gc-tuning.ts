// How a running node trades CPU for memory. V8 sizes the heap for the machine it runs on: on a
// host with many gigabytes it lets the old generation grow to up to four times what survived the
// last full collection before it collects again. Under a steady MQTT load that headroom fills with
// garbage (short-lived publishes promoted by young-generation collections) and shows as resident
// memory: bench:footprint peaked at 300 MB with V8's choice against ~35 MB live.
//
// Capping the heap (--max-old-space-size) would turn a burst of connections into an out-of-memory
// crash. A fixed growth factor instead keeps the limit proportional to what is live, with no ceiling.
// The flag is read at each full collection, so setting it at start-up works; the young generation's
// size and malloc's arenas are fixed when the process starts and are set where it is launched
// (package.json's start script, deploy/tributary.service, deploy/Dockerfile).
//
// The growth factor also bounds memory outside the heap: Node 20's V8 (11.3) counts the external
// memory (ArrayBuffer backing stores, such as the Buffers better-sqlite3 copies stored batches
// into) allocated since the last full collection against the old generation's limit, so a Kafka
// consumer reading at full speed set off a full mark-compact every ~10 MB served. This V8 has no
// flag that counts it apart (`node --v8-options` lists no --global-gc-scheduling nor any other),
// and a larger factor would give back the MQTT footprint.
// Instead, the Fetch path releases the Buffers it served as soon as the socket has taken them
// (bridge/kafka/release-buffers.ts), which takes their bytes off the count at once.
import { setFlagsFromString } from 'node:v8';

/** After a full collection, the old generation may grow to 1.3x what survived it. */
export const HEAP_GROWING_PERCENT = 30;

/** Applies the gateway's collector settings, unless the operator gave node that flag themselves. */
export function tuneGarbageCollector(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg));
  if (given) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
