// Counters of a simulation run, the live line on a TTY, and the final summary.
import { createHistogram, monitorEventLoopDelay, performance, type IntervalHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SimSummary {
  mode: 'mqtt.js' | 'raw';
  url: string;
  devices: number;
  connected: number;
  qos: number;
  format: string;
  seed: string;
  seconds: number;
  sent: number;
  acked: number;
  failed: number;
  unacked: number;
  skipped: number;
  /** Acknowledged messages per second (sent per second at QoS 0). */
  msgsPerSec: number;
  latency: LatencySummary | null;
  reconnects: number;
  /** QoS 1/2 messages sent again on a new connection because their PUBACK had not come: at QoS 1, possible duplicates in the log. */
  resent: number;
  connectionErrors: number;
  chaosDrops: number;
  /** The simulator's own CPU over the run (all its processes), in cores. */
  cpuCores: number;
  /** p99 of the simulator's event-loop delay: high means the simulator, not the broker, was slow. */
  loopDelayP99Ms: number | null;
}

export class Stats {
  sent = 0;
  acked = 0;
  failed = 0;
  skipped = 0;
  reconnects = 0;
  resent = 0;
  connectionErrors = 0;
  chaosDrops = 0;
  connected = 0;
  /** Published at QoS 1/2 and neither acknowledged nor failed yet. */
  inFlight = 0;
  readonly #total: RecordableHistogram = createHistogram();
  #window: RecordableHistogram = createHistogram();
  readonly startedAt = performance.now();
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  #lastTick = { at: this.startedAt, count: 0 };

  /** `ms`: time from publish to PUBACK/PUBCOMP. */
  ack(ms: number): void {
    this.acked++;
    const us = Math.max(1, Math.round(ms * 1000));
    this.#total.record(us);
    this.#window.record(us);
  }

  constructor() {
    this.#loopDelay.enable();
  }

  latency(): LatencySummary | null {
    return summarise(this.#total);
  }

  /** Stops watching the event loop and returns its p99 delay. */
  loopDelayP99Ms(): number | null {
    this.#loopDelay.disable();
    return this.#loopDelay.count === 0 ? null : this.#loopDelay.percentile(99) / 1e6;
  }

  /** One line of live figures since the previous call. */
  liveLine(devices: number, qos: number): string {
    const now = performance.now();
    const done = qos === 0 ? this.sent : this.acked;
    const rate = ((done - this.#lastTick.count) * 1000) / Math.max(1, now - this.#lastTick.at);
    this.#lastTick = { at: now, count: done };
    const window = summarise(this.#window);
    this.#window = createHistogram();
    const parts = [
      `${((now - this.startedAt) / 1000).toFixed(0)}s`,
      `up ${this.connected}/${devices}`,
      `${Math.round(rate).toLocaleString('en')} msg/s`,
      qos === 0 ? `sent ${this.sent.toLocaleString('en')}` : `acked ${this.acked.toLocaleString('en')}`,
      `in flight ${this.inFlight}`,
      window === null ? 'p50 - p99 -' : `p50 ${window.p50Ms.toFixed(1)} ms p99 ${window.p99Ms.toFixed(1)} ms`,
      `errors ${this.failed + this.connectionErrors}`,
      `reconnects ${this.reconnects}`,
    ];
    return parts.join('  ');
  }
}

export function summarise(histogram: RecordableHistogram): LatencySummary | null {
  if (histogram.count === 0) return null;
  return { p50Ms: histogram.percentile(50) / 1000, p99Ms: histogram.percentile(99) / 1000, maxMs: histogram.max / 1000 };
}

/** The summary for people, on stderr. */
export function formatSummary(s: SimSummary): string {
  const latency = s.latency === null ? 'latency n/a' : `${s.qos === 2 ? 'PUBCOMP' : 'PUBACK'} p50 ${s.latency.p50Ms.toFixed(2)} ms  p99 ${s.latency.p99Ms.toFixed(2)} ms  max ${s.latency.maxMs.toFixed(1)} ms`;
  return [
    `tributary sim (${s.mode}): ${s.devices} ${s.mode === 'raw' ? 'connections' : 'devices'} -> ${s.url}, ${s.seconds.toFixed(1)} s, QoS ${s.qos}, ${s.format}, seed ${s.seed}`,
    `  sent ${s.sent}  acked ${s.acked}  failed ${s.failed}  unacked ${s.unacked}  skipped ${s.skipped}`,
    `  ${Math.round(s.msgsPerSec).toLocaleString('en')} msg/s  ${latency}`,
    `  reconnects ${s.reconnects}  resent ${s.resent}${s.qos === 1 && s.resent > 0 ? ' (QoS 1: possible duplicates)' : ''}  connection errors ${s.connectionErrors}  chaos drops ${s.chaosDrops}  CPU ${s.cpuCores.toFixed(2)} cores${s.loopDelayP99Ms === null ? '' : `  event-loop delay p99 ${s.loopDelayP99Ms.toFixed(1)} ms`}`,
  ].join('\n');
}

/** The URL without its password, for output. */
export function displayUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== '') copy.password = '***';
  return copy.href.replace(/\/$/, '');
}
