// Seeded randomness for the fuzz tests and the soak run (bench/soak.ts). One seed drives a whole
// run; case i draws from its own generator, derived from the seed and i, so a failing case can be
// replayed alone. FUZZ_SEED fixes the seed (a failure prints it); otherwise each run picks one.
import { randomInt } from 'node:crypto';

/** mulberry32: small, fast, and the same sequence on every platform. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The generator of case `index` of the run with `seed`. */
  static forCase(seed: number, index: number): Rng {
    return new Rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
  }

  /** An unsigned 32-bit integer. */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** 0 <= n < max. */
  int(max: number): number {
    return max <= 0 ? 0 : this.next() % max;
  }

  chance(probability: number): boolean {
    return this.next() / 0x1_0000_0000 < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  /** A short string of printable ASCII and now and then a byte of UTF-8 or a control character. */
  text(maxLength: number): string {
    const alphabet = 'abcXYZ019 _-./:#+$%{}[]"\'\\\n\t\u0000é€😀';
    let s = '';
    for (let i = 0, n = this.int(maxLength + 1); i < n; i++) s += this.chance(0.8) ? String.fromCharCode(0x20 + this.int(95)) : this.pick([...alphabet]);
    return s;
  }
}

/** The run's seed: FUZZ_SEED, or a fresh one. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.FUZZ_SEED;
  if (given === undefined || given === '') return randomInt(0x7fff_ffff);
  const seed = Number(given);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`FUZZ_SEED must be a non-negative integer, got '${given}'`);
  return seed >>> 0;
}

/** The case count of a bounded run: FUZZ_CASES, else `fallback`. */
export function fuzzCases(fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.FUZZ_CASES ?? fallback);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** What a fuzzer found: the seed and case that reproduce it, and the input, printable. */
export class FuzzFinding extends Error {
  constructor(
    readonly fuzzer: string,
    readonly seed: number,
    readonly caseIndex: number,
    problem: string,
    readonly input: string,
  ) {
    super(`${fuzzer} fuzz: ${problem}\n  seed ${seed}, case ${caseIndex} (replay: FUZZ_SEED=${seed})\n  input: ${input.length > 4000 ? `${input.slice(0, 4000)}…` : input}`);
  }
}
