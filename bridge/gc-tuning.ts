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
//
// Allocation-site pretenuring is off (docs/performance.md, "The collector at the footprint load").
// V8 watches each object and array literal: when 85 % of what a site made since the last scavenge
// is still alive at it, the site's objects are from then on allocated straight in the old
// generation. At 1,000 devices x 10 msg/s a publish's objects wait a few milliseconds for the
// fsync and the PUBACK, and a scavenge came every ~80 ms, so the per-message sites of the fast
// path, the ack queue and Node's streams were judged long-lived (--trace-pretenuring-statistics:
// ratios 0.96-1.0) and every later message's objects went to the old generation, to die there:
// 517-583 bytes a message reached it, and a mark-compact ran every 1.3 s. Without pretenuring they
// die young: 110-120 bytes a message, a mark-compact every 5-7 s; V8's four helper threads (which
// run the concurrent marking) went from 7.1-7.7 to 4.2-4.3 us a message, the process from
// 38.0-42.7 to 34.5-37.3 us (three interleaved pairs of 20 s on the shared VM), with peak RSS and
// PUBACK latencies unchanged within their spread. The flag is read at each scavenge, so setting it
// here works for every way the node is launched. What it gives up: a site whose objects really
// do live long is copied by a scavenge or two before it reaches the old generation.
// Tried and not adopted (same measurements): a larger young generation (--max-semi-space-size=16
// saved ~12 % CPU but cost 20-50 MB of peak RSS, past the 150 MB goal; 8 saved nothing),
// --single-threaded-gc (the helpers' time moved to the main thread) and --no-parallel-scavenge.
import { setFlagsFromString } from 'node:v8';

/** After a full collection, the old generation may grow to 1.3x what survived it. */
export const HEAP_GROWING_PERCENT = 30;

/** The collector settings the gateway applies at start-up, each with the flag name that, given by the operator, wins. */
const SETTINGS: ReadonlyArray<{ name: RegExp; flag: string }> = [
  { name: /^--heap[-_]growing[-_]percent\b/, flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` },
  { name: /^--(no[-_])?allocation[-_]site[-_]pretenuring\b/, flag: '--no-allocation-site-pretenuring' },
];

/**
 * Applies the gateway's collector settings, each unless the operator gave node that flag
 * themselves; returns the flags applied.
 */
export function tuneGarbageCollector(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  const applied = SETTINGS.filter(({ name }) => !given.some((arg) => name.test(arg))).map(({ flag }) => flag);
  for (const flag of applied) setFlagsFromString(flag);
  return applied;
}
