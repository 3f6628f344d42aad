// `tributary sim --raw`: the high-rate mode for benchmarks. Pre-encoded QoS 1 packets over raw
// TCP sockets (raw-publisher.ts), the sockets split over --workers processes when one process's
// event loop is not enough. Every socket sends one pre-encoded sample of its device's profile.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeBinary, encodeJson } from './encoding.js';
import { SimConnectError } from './errors.js';
import { planFleet } from './fleet-plan.js';
import type { SimOptions } from './options.js';
import { Random } from './random.js';
import { BrokerRefusedError, runRawPublisher, type RawPublisherOptions, type RawPublisherResult } from './raw-publisher.js';
import { Sensor } from './sensor.js';
import { Stats, displayUrl, type SimSummary } from './stats.js';

/** What a worker process is given: plain data, so it crosses the IPC channel. */
export interface RawShare {
  /** The gateways, in the order each socket tries them until one takes it (CONNACK 0). */
  addresses: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  clientIdPrefix: string;
  topics: string[];
  /** One pre-encoded payload per socket, base64. */
  payloadsBase64: string[];
  window: number;
  durationMs?: number;
  count?: number;
  rate?: number;
  protocolVersion: 4 | 5;
}

export type WorkerReply = { result: RawPublisherResult } | { error: string; connect: boolean };

export interface WorkerProgress {
  progress: { sent: number; acked: number };
}

type Progress = (totals: { sent: number; acked: number }) => void;

export function shareOptions(share: RawShare, signal?: AbortSignal, onProgress?: Progress): RawPublisherOptions {
  const payloads = share.payloadsBase64.map((p) => Buffer.from(p, 'base64'));
  return {
    host: share.addresses[0]!.host,
    port: share.addresses[0]!.port,
    addresses: share.addresses,
    connections: share.topics.length,
    payloadBytes: payloads[0]!.length,
    payload: (i) => payloads[i]!,
    window: share.window,
    clientIdPrefix: share.clientIdPrefix,
    topic: (i) => share.topics[i]!,
    protocolVersion: share.protocolVersion,
    ...(share.username === undefined ? {} : { username: share.username }),
    ...(share.password === undefined ? {} : { password: share.password }),
    ...(share.durationMs === undefined ? {} : { durationMs: share.durationMs }),
    ...(share.count === undefined ? {} : { count: share.count }),
    ...(share.rate === undefined ? {} : { rate: share.rate }),
    ...(signal === undefined ? {} : { signal }),
    ...(onProgress === undefined ? {} : { onProgress }),
  };
}

/** raw-publisher's failures are user-facing here: unreachable or refusing brokers. */
export function isConnectFailure(err: unknown): boolean {
  return err instanceof BrokerRefusedError || (err instanceof Error && /^cannot reach the broker/.test(err.message));
}

export async function runRawMode(options: SimOptions): Promise<SimSummary> {
  const raw = options.raw!;
  // Each socket is one device of the plan: its topic, and one sample of its profile, encoded once.
  const devices = planFleet(raw.connections, options.profiles, options.topic, options.seed).map((d) => {
    const at = options.startTimeMs ?? Date.now();
    const reading = new Sensor(d.profile, Random.derive(options.seed, d.id), d.site, at, 0).read(at);
    const payload = options.format === 'binary' ? encodeBinary(0, reading, d.profile) : encodeJson(d.id, 0, reading, d.profile);
    return { topic: d.topic, payloadBase64: payload.toString('base64') };
  });
  const shares = splitShares(options, devices);

  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const live = options.live ? liveFigures(raw.connections, shares.length) : null;
  const progress = (w: number): Progress | undefined => (live === null ? undefined : (totals) => live.update(w, totals));
  let results: RawPublisherResult[];
  try {
    results =
      shares.length === 1
        ? [await inProcess(shares[0]!, abort.signal, progress(0))]
        : await Promise.all(shares.map((s, w) => inWorker(s, abort.signal, progress(w))));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    live?.close();
  }
  const wall = (performance.now() - started) / 1000;
  const ownCpu = process.cpuUsage(cpuBefore);
  const seconds = Math.max(...results.map((r) => r.seconds));
  const sent = results.reduce((n, r) => n + r.sent, 0);
  const acked = results.reduce((n, r) => n + r.acked, 0);
  // Workers report their own CPU; the parent's is added (it only waits, but it is honest).
  const workerCpu = shares.length === 1 ? 0 : results.reduce((n, r) => n + r.cpuShare * r.seconds, 0);
  const parentCpu = (ownCpu.user + ownCpu.system) / 1e6;
  const latencies = results.map((r) => r.latency).filter((l) => l !== null);
  return {
    mode: 'raw',
    url: options.urls.map(displayUrl).join(','),
    devices: raw.connections,
    connected: raw.connections,
    qos: 1,
    format: options.format,
    seed: options.seed,
    seconds,
    sent,
    acked,
    failed: 0,
    unacked: sent - acked,
    skipped: 0,
    msgsPerSec: acked / seconds,
    // With several workers, the worst worker's percentiles (a conservative bound, not a merge).
    latency: latencies.length === 0 ? null : { p50Ms: Math.max(...latencies.map((l) => l.p50Ms)), p99Ms: Math.max(...latencies.map((l) => l.p99Ms)), maxMs: Math.max(...latencies.map((l) => l.p99Ms)) },
    reconnects: 0,
    resent: 0,
    connectionErrors: 0,
    chaosDrops: 0,
    cpuCores: (workerCpu + parentCpu) / wall,
    loopDelayP99Ms: null,
  };
}

/** Connections, --count and the total rate divided as evenly as they go over the workers. */
function splitShares(options: SimOptions, devices: Array<{ topic: string; payloadBase64: string }>): RawShare[] {
  const raw = options.raw!;
  // No worker without a socket or without a share of --count.
  const workers = Math.min(raw.workers, raw.connections, options.count ?? Number.POSITIVE_INFINITY);
  return Array.from({ length: workers }, (_, w) => {
    const mine = devices.filter((_, i) => i % workers === w);
    const portion = (total: number): number => Math.floor(total / workers) + (w < total % workers ? 1 : 0);
    return {
      addresses: options.urls.map((u) => ({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 1883) })),
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      clientIdPrefix: `${options.clientPrefix}raw-${w}`,
      topics: mine.map((d) => d.topic),
      payloadsBase64: mine.map((d) => d.payloadBase64),
      window: raw.window,
      protocolVersion: options.protocolVersion,
      ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
      ...(options.count === undefined ? {} : { count: portion(options.count) }),
      ...(options.rate === 'max' ? {} : { rate: options.rate * mine.length }),
    };
  });
}

/** The live line on a TTY: each share reports its totals every second. */
function liveFigures(connections: number, shares: number): { update: (share: number, totals: { sent: number; acked: number }) => void; close: () => void } {
  const stats = new Stats();
  const totals = Array.from({ length: shares }, () => ({ sent: 0, acked: 0 }));
  const timer = setInterval(() => {
    stats.sent = totals.reduce((n, t) => n + t.sent, 0);
    stats.acked = totals.reduce((n, t) => n + t.acked, 0);
    stats.inFlight = stats.sent - stats.acked;
    stats.connected = connections;
    process.stderr.write(`\r\x1b[K${stats.liveLine(connections, 1)}`);
  }, 1000);
  return {
    update: (share, t) => (totals[share] = t),
    close: () => {
      clearInterval(timer);
      stats.loopDelayP99Ms();
      process.stderr.write('\r\x1b[K');
    },
  };
}

async function inProcess(share: RawShare, signal: AbortSignal, onProgress?: Progress): Promise<RawPublisherResult> {
  try {
    return await runRawPublisher(shareOptions(share, signal, onProgress));
  } catch (err) {
    if (isConnectFailure(err)) throw new SimConnectError((err as Error).message);
    throw err;
  }
}

const WORKER = fileURLToPath(new URL('./raw-worker.js', import.meta.url));

function inWorker(share: RawShare, signal: AbortSignal, onProgress?: Progress): Promise<RawPublisherResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let reply: WorkerReply | null = null;
    const onAbort = (): void => void child.send({ stop: true });
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: WorkerReply | WorkerProgress) => {
      if ('progress' in message) onProgress?.(message.progress);
      else reply = message;
    });
    child.on('exit', (code) => {
      signal.removeEventListener('abort', onAbort);
      const r = reply as WorkerReply | null;
      if (r !== null && 'result' in r) resolve(r.result);
      else if (r !== null) reject(r.connect ? new SimConnectError(r.error) : new Error(r.error));
      else reject(new Error(`a --raw worker exited with code ${code} without a result`));
    });
    child.send({ share, progress: onProgress !== undefined });
  });
}
