// The dashboard's recent throughput, kept by the node so that a page opened now shows the last two
// minutes at once (it would otherwise start an empty chart and fill it from its own polling). One
// sample a second, rates from the differences of the counters it is given; a fixed ring of them.

/** Counters since start, as the node reads them (the MQTT front end's stats). */
export interface ThroughputCounters {
  publishesReceived: number;
  publishesStored: number;
  bytesReceived: number;
}

/** Rates over the second that ended at `time` (epoch ms). */
export interface ThroughputSample {
  time: number;
  publishesPerSecond: number;
  storedPerSecond: number;
  bytesPerSecond: number;
}

export class ThroughputHistory {
  /** Oldest first; at most `capacity`. */
  readonly #samples: ThroughputSample[] = [];
  #previous: { time: number; counters: ThroughputCounters } | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly read: () => ThroughputCounters,
    private readonly capacity = 120,
  ) {}

  /** Samples every `everyMs` until stop(); the timer does not keep the process alive. */
  start(everyMs = 1000): void {
    if (this.#timer !== null) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Reads the counters; from the second reading on, adds the rates since the one before. */
  sample(now = Date.now()): void {
    const counters = { ...this.read() };
    const previous = this.#previous;
    this.#previous = { time: now, counters };
    if (previous === null || now <= previous.time) return;
    const seconds = (now - previous.time) / 1000;
    const rate = (key: keyof ThroughputCounters): number => Math.round((Math.max(0, counters[key] - previous.counters[key]) / seconds) * 10) / 10;
    this.#samples.push({ time: now, publishesPerSecond: rate('publishesReceived'), storedPerSecond: rate('publishesStored'), bytesPerSecond: rate('bytesReceived') });
    if (this.#samples.length > this.capacity) this.#samples.shift();
  }

  /** Oldest first. */
  list(): ThroughputSample[] {
    return this.#samples.slice();
  }
}
