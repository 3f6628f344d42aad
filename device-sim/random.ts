// Seedable randomness, so that a simulation run with the same --seed makes the same fleet, the
// same noise and the same faults. Math.random cannot be seeded; sfc32 is small, fast and passes
// PractRand, which is more than sensor noise needs.

export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spareGaussian: number | null = null;

  /** Any string or number seeds it; the same seed gives the same sequence. */
  constructor(seed: string | number) {
    // Spread the seed over 128 bits of state with a string hash (cyrb128), then warm up.
    const text = String(seed);
    let h1 = 1779033703;
    let h2 = 3144134277;
    let h3 = 1013904242;
    let h4 = 2773480762;
    for (let i = 0; i < text.length; i++) {
      const k = text.charCodeAt(i);
      h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
      h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
      h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
      h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
    }
    this.#a = h1 >>> 0;
    this.#b = h2 >>> 0;
    this.#c = h3 >>> 0;
    this.#d = h4 >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor((max - min + 1) * this.next());
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Normally distributed (Box-Muller, one spare kept). */
  gaussian(mean = 0, sd = 1): number {
    if (this.#spareGaussian !== null) {
      const spare = this.#spareGaussian;
      this.#spareGaussian = null;
      return mean + sd * spare;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareGaussian = r * Math.sin(2 * Math.PI * v);
    return mean + sd * r * Math.cos(2 * Math.PI * v);
  }

  /** A new generator derived from this seed and a name: devices do not share one sequence. */
  static derive(seed: string | number, name: string): Random {
    return new Random(`${seed}/${name}`);
  }
}
