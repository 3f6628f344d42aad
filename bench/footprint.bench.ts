// `npm run bench:footprint`: what Tributary costs a gateway. 1,000 simulated devices (one MQTT
// connection each) publish 10,000 QoS 1 messages a second in total for 60 s into Tributary, run as
// a child process with its defaults (durability fsync); its peak resident memory (VmHWM of
// /proc/PID/status, which covers the writer thread too) and CPU (utime + stime of /proc/PID/stat)
// are read. Mosquitto (Debian's package, in memory) takes the same load in the same run, as the
// reference for what an MQTT broker alone needs. Goal: Tributary's peak RSS <= 150 MB.
// Prints a table, then one JSON line ({"bench":"footprint", ...}).
//
// BENCH_QUICK=1: 10 s instead of 60. BENCH_DEVICES, BENCH_RATE (messages/s in total),
// BENCH_SECONDS to change the load; BENCH_DIR for the data directory (default .bench-data);
// Tributary runs as `npm start` launches it (package.json's start script: its environment and node
// flags); BENCH_NODE_FLAGS replaces those flags (e.g. "--max-semi-space-size=16" to try others).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runRawPublisher, type RawPublisherResult } from '../device-sim/raw-publisher.js';
import { benchScratch, connectionLimitsEnv, cpuSeconds, freePort, memory, startMosquitto, startScriptSettings, waitForPort } from './processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const DEVICES = Number(process.env.BENCH_DEVICES ?? 1000);
const RATE = Number(process.env.BENCH_RATE ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 10 : 60));
const PAYLOAD = 100;
const GOAL_RSS_MB = 150;
const MB = 1_000_000;
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));
const LAUNCH = startScriptSettings();
/** `npm start`'s node flags, or BENCH_NODE_FLAGS instead when given. */
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS === undefined ? LAUNCH.nodeFlags : process.env.BENCH_NODE_FLAGS.split(' ').filter((f) => f !== '');

interface Measured {
  name: 'tributary' | 'mosquitto';
  idleRssMb: number;
  peakRssMb: number;
  /** RSS at the end of the run, after the load. */
  endRssMb: number;
  cpuCores: number;
  sent: number;
  acked: number;
  msgsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

async function startTributary(dataDir: string): Promise<{ port: number; httpPort: number; process: ChildProcess }> {
  const [port, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'start', '--data-dir', dataDir, '--mqtt-port', String(port), '--ws-port', '0', '--http-port', String(httpPort)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    // The devices connect all at once, from one address (connectionLimitsEnv).
    env: {
      ...LAUNCH.env,
      ...process.env,
      LOG_LEVEL: 'warn',
      TRIBUTARY_LOG_DURABILITY: 'fsync',
      ...connectionLimitsEnv(DEVICES),
    },
  });
  await waitForPort(port, child, 'tributary');
  await waitForPort(httpPort, child, 'tributary HTTP');
  return { port, httpPort, process: child };
}

async function measure(name: Measured['name'], broker: { port: number; process: ChildProcess }): Promise<Measured> {
  await new Promise((done) => setTimeout(done, 1000)); // settle after start-up
  const idle = memory(broker.process);
  const cpuBefore = cpuSeconds(broker.process);
  const result: RawPublisherResult = await runRawPublisher({
    host: '127.0.0.1',
    port: broker.port,
    connections: DEVICES,
    payloadBytes: PAYLOAD,
    rate: RATE,
    window: 100,
    durationMs: SECONDS * 1000,
    clientIdPrefix: `${name}-device`,
    topic: (i) => `factory/site-${i % 4}/line-${i % 10}/device-${i}/telemetry`,
  });
  const cpu = (cpuSeconds(broker.process) - cpuBefore) / result.seconds;
  const end = memory(broker.process);
  if (result.acked !== result.sent) throw new Error(`${name}: ${result.sent - result.acked} of ${result.sent} messages never acknowledged`);
  return {
    name,
    idleRssMb: round(idle.rssBytes / MB),
    peakRssMb: round(end.peakRssBytes / MB),
    endRssMb: round(end.rssBytes / MB),
    cpuCores: Number(cpu.toFixed(3)),
    sent: result.sent,
    acked: result.acked,
    msgsPerSec: Math.round(result.msgsPerSec),
    p50Ms: result.latency?.p50Ms ?? null,
    p99Ms: result.latency?.p99Ms ?? null,
  };
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** Tributary's own count of what it stored, from its /metrics: a cross-check of the generator's. */
async function storedByTributary(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tributary_mqtt_publishes_acknowledged_total{outcome="stored"} '));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function main(): Promise<void> {
  const { dir, children, cleanup } = benchScratch('footprint');
  try {
    const tributary = await startTributary(join(dir, 'data'));
    children.push(tributary.process);
    const t = await measure('tributary', tributary);
    const stored = await storedByTributary(tributary.httpPort);
    if (stored !== t.acked) throw new Error(`tributary's /metrics counts ${stored} stored publishes, the generator ${t.acked} acknowledged`);
    tributary.process.kill('SIGTERM');

    const mosquitto = await startMosquitto(dir);
    children.push(mosquitto.process);
    const m = await measure('mosquitto', mosquitto);

    const rows = [
      ['broker', 'idle RSS', 'peak RSS', 'RSS at end', 'CPU', 'msgs/s', 'p50', 'p99'],
      ...[t, m].map((r) => [r.name, `${r.idleRssMb} MB`, `${r.peakRssMb} MB`, `${r.endRssMb} MB`, `${r.cpuCores} cores`, String(r.msgsPerSec), `${r.p50Ms} ms`, `${r.p99Ms} ms`]),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`Footprint: ${DEVICES} devices, ${RATE} QoS 1 msgs/s in total, ${PAYLOAD}-byte payloads, ${SECONDS} s; Tributary durability fsync, Mosquitto in memory`);
    for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    const goalMet = t.peakRssMb <= GOAL_RSS_MB;
    console.log(`Tributary peak RSS ${t.peakRssMb} MB: goal <= ${GOAL_RSS_MB} MB ${goalMet ? 'met' : 'NOT met'}; ${(t.peakRssMb / m.peakRssMb).toFixed(1)}x Mosquitto's, CPU ${(t.cpuCores / Math.max(m.cpuCores, 0.001)).toFixed(1)}x`);
    console.log(
      JSON.stringify({
        bench: 'footprint',
        devices: DEVICES,
        rate: RATE,
        seconds: SECONDS,
        payloadBytes: PAYLOAD,
        qos: 1,
        durability: 'fsync',
        nodeFlags: NODE_FLAGS,
        env: LAUNCH.env,
        tributary: t,
        mosquitto: m,
        rssRatio: Number((t.peakRssMb / m.peakRssMb).toFixed(2)),
        goalRssMb: GOAL_RSS_MB,
        goalMet,
      }),
    );
  } finally {
    cleanup();
  }
}

await main();
