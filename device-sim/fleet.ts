// A fleet of MQTT.js devices: connect (the first device alone, as a probe), ramp the rest up
// with jitter, publish until --duration, --count or a stop signal, optionally drop devices at
// random (--chaos), drain what is in flight, disconnect, summarise.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SimDevice, type FleetControl } from './device.js';
import { planFleet } from './fleet-plan.js';
import type { SimOptions } from './options.js';
import { Random } from './random.js';
import { Stats, displayUrl, type SimSummary } from './stats.js';

export interface FleetRun {
  /** Resolves with the summary once the run has stopped and drained. */
  done: Promise<SimSummary>;
  /** Ends the run early (Ctrl-C): stop publishing, drain, summarise. */
  stop(): void;
  stats: Stats;
}

export function runFleet(options: SimOptions, onLive?: (line: string) => void): FleetRun {
  const stats = new Stats();
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  let taken = 0;
  const control: FleetControl = {
    running: true,
    take() {
      if (!control.running) return false;
      if (options.count !== undefined) {
        if (taken >= options.count) return false;
        if (++taken === options.count) stop();
      }
      return true;
    },
  };
  const stop = (): void => {
    control.running = false;
    stopRequested();
  };
  const done = run(options, stats, control, stopped, stop, onLive);
  return { done, stop, stats };
}

async function run(options: SimOptions, stats: Stats, control: FleetControl, stopped: Promise<void>, stop: () => void, onLive?: (line: string) => void): Promise<SimSummary> {
  const plan = planFleet(options.devices, options.profiles, options.topic, options.seed);
  const devices = plan.map((identity) => new SimDevice(identity, options, stats, control));
  const random = Random.derive(options.seed, 'fleet-run');
  const timers: NodeJS.Timeout[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();

  await devices[0]!.start(true);
  startRamp(devices.slice(1), options.rampMs, random, timers);
  if (options.durationMs !== undefined) timers.push(setTimeout(stop, options.durationMs));
  if (options.chaos !== null) timers.push(startChaos(devices, options.chaos, random));
  if (onLive !== undefined) timers.push(setInterval(() => onLive(stats.liveLine(options.devices, options.qos)), 1000));

  await stopped;
  for (const timer of timers) clearTimeout(timer);
  for (const device of devices) device.pause();
  const drainUntil = performance.now() + options.drainMs;
  while (stats.inFlight > 0 && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const connected = stats.connected;
  await Promise.all(devices.map((d) => d.end()));
  if (options.ackedOut !== undefined) writeAckedOut(options.ackedOut, devices);
  return {
    mode: 'mqtt.js',
    url: options.urls.map(displayUrl).join(','),
    devices: options.devices,
    connected,
    qos: options.qos,
    format: options.format,
    seed: options.seed,
    seconds,
    sent: stats.sent,
    acked: stats.acked,
    failed: stats.failed,
    unacked: stats.inFlight,
    skipped: stats.skipped,
    msgsPerSec: (options.qos === 0 ? stats.sent : stats.acked) / seconds,
    latency: stats.latency(),
    reconnects: stats.reconnects,
    resent: stats.resent,
    connectionErrors: stats.connectionErrors,
    chaosDrops: stats.chaosDrops,
    cpuCores: (cpu.user + cpu.system) / 1e6 / seconds,
    loopDelayP99Ms: stats.loopDelayP99Ms(),
  };
}

/** Device i of n connects at i/n of the ramp, plus a random share of one slot. */
function startRamp(devices: SimDevice[], rampMs: number, random: Random, timers: NodeJS.Timeout[]): void {
  if (rampMs <= 0) {
    for (const d of devices) void d.start(false);
    return;
  }
  const slot = rampMs / (devices.length + 1);
  devices.forEach((d, i) => timers.push(setTimeout(() => void d.start(false), slot * (i + 1) + random.between(0, slot))));
}

/** Every interval, each connected device is dropped with probability `fraction`: they all come back
 * around the same time, which is what a reconnect storm is. */
function startChaos(devices: SimDevice[], chaos: NonNullable<SimOptions['chaos']>, random: Random): NodeJS.Timeout {
  return setInterval(() => {
    for (const d of devices) {
      if (d.connected && random.chance(chaos.fraction)) d.drop(chaos.downtimeMs * random.between(0.5, 1.5));
    }
  }, chaos.intervalMs);
}

/** One line per device: its topic and its acknowledged sequence numbers as [from, to] ranges. */
function writeAckedOut(file: string, devices: SimDevice[]): void {
  const lines = devices.map((d) => {
    const seqs = [...new Set(d.acked ?? [])].sort((a, b) => a - b);
    const ranges: Array<[number, number]> = [];
    for (const s of seqs) {
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last[1] === s - 1) last[1] = s;
      else ranges.push([s, s]);
    }
    return JSON.stringify({ device: d.identity.id, topic: d.identity.topic, acked: ranges });
  });
  writeFileSync(file, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
}
