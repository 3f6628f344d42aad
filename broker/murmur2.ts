// Kafka's default partitioner for keyed records: murmur2 of the key bytes (seed 0x9747b28c, the
// Java client's `Utils.murmur2`), made positive, modulo the partition count. Using the same
// function puts a key in the same partition number here as upstream when the counts match.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2: a signed 32-bit hash of `data`. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const blocks = length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const at = i * 4;
    // Little-endian 4-byte blocks, as Java's loop reads them.
    let k = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The last 1-3 bytes, highest first (Java's switch falls through its cases).
  const tail = blocks * 4;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs, which fails for MIN_VALUE). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for a keyed record. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  return toPositive(murmur2(key)) % partitions;
}

/**
 * Spreads records without a key evenly: round-robin per topic. Kafka's producer uses a sticky
 * partitioner to fill one batch at a time; here records arrive one MQTT packet at a time and the
 * front end batches per partition anyway, so plain round-robin spreads best.
 */
export class KeylessSpreader {
  readonly #next = new Map<string, number>();

  next(topic: string, partitions: number): number {
    const n = this.#next.get(topic) ?? 0;
    this.#next.set(topic, (n + 1) % 1_000_000_007);
    return n % partitions;
  }
}
