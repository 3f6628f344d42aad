// `npm run bench:cluster`: replicated MQTT QoS 1 ingest (issue 17). Peers, each driven by the same
// raw-socket generator (device-sim/raw-publisher.ts) in alternating runs, medians reported:
//   - nats-r3: a three-node NATS cluster (Debian's nats-server, MQTT on, a JetStream stream of 3
//     replicas capturing the subjects; bench/nats-cluster.ts), publishing to the stream leader;
//   - tributary-cluster: three Tributary nodes (durability fsync, acks quorum), publishing with
//     every node's address: NOT THERE YET. Replication is being built; when it lands, it is one
//     function below (startTributaryCluster) and the ratios and the failover figures fill in;
//   - tributary-single: one Tributary node (durability fsync), the ceiling replication is held to;
//   - mosquitto: Debian's Mosquitto in memory, for reference.
// Then PUBACK latency of each at a fixed rate, and CPU per node (all nodes share this machine).
// Prints a table, then one JSON line ({"bench":"cluster", ...}, ratioVsNats, ratioVsSingle and
// failover null while the Tributary cluster is missing).
//
// BENCH_QUICK=1 for a short smoke run; BENCH_CONNECTIONS, BENCH_SECONDS, BENCH_WINDOW,
// BENCH_RATE (the latency run's msg/s), BENCH_RUNS; BENCH_DIR for the data directories (default
// .bench-data: /tmp may be a tmpfs where fsync costs nothing). BENCH_PEERS (comma-separated names,
// e.g. tributary-cluster,tributary-single) runs only those peers. BENCH_PROFILE=DIR starts the
// Tributary cluster's nodes with --cpu-prof, a profile per thread (main, log writer) in DIR/<node>/,
// written when the nodes stop (BENCH_FAILOVER_KILLS=0 with it: a SIGKILLed node writes none). Each peer's CPU per message is printed per node and per thread: the
// main thread, the busiest other one (a Tributary node's log writer) and the rest (GC helpers, libuv).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { runRawPublisher } from '../device-sim/raw-publisher.js';
import { median } from './figures.js';
import { startNatsCluster } from './nats-cluster.js';
import { benchScratch, cpuSeconds, freePort, startMosquitto, startScriptSettings, threadCpuSeconds, waitForPort } from './processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10));
const WINDOW = Number(process.env.BENCH_WINDOW ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3));
const PAYLOAD = 100;
const FAILOVER_KILLS = Number(process.env.BENCH_FAILOVER_KILLS ?? (QUICK ? 1 : 5));
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));
const PEERS = process.env.BENCH_PEERS === undefined ? null : new Set(process.env.BENCH_PEERS.split(',').map((name) => name.trim()));
const PROFILE_DIR = process.env.BENCH_PROFILE ?? null;

/** A running peer: where to publish (every address of a cluster), its processes, how to stop it. */
interface Peer {
  name: string;
  addresses: Array<{ host: string; port: number }>;
  processes: Array<{ name: string; process: ChildProcess }>;
  describe: string;
  stop(): Promise<void>;
}

async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((c) => {
      if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.kill('SIGTERM');
      return closed;
    }),
  );
}

async function startNats(dir: string): Promise<Peer> {
  const cluster = await startNatsCluster(dir);
  const leader = cluster.nodes.find((n) => n.name === cluster.streamLeader) ?? cluster.nodes[0]!;
  return {
    name: 'nats-r3',
    // The stream leader first: the fairest place for NATS (no extra hop to the leader).
    addresses: [leader, ...cluster.nodes.filter((n) => n !== leader)].map((n) => ({ host: '127.0.0.1', port: n.mqttPort })),
    processes: cluster.nodes.map((n) => ({ name: n.name, process: n.process })),
    describe: `stream ${cluster.stream} R3 (file), leader ${cluster.streamLeader}`,
    stop: () => cluster.stop(),
  };
}

/** One node of the Tributary cluster: its ports and process, started again by `start()` on the same data. */
interface ClusterNodeProcess {
  name: string;
  mqttPort: number;
  httpPort: number;
  process: ChildProcess;
  start(): Promise<void>;
}

/** The running Tributary cluster, for the failover measurement after the ingest runs. */
let tributaryCluster: { nodes: ClusterNodeProcess[]; children: ChildProcess[] } | null = null;

/** GET /api/cluster/role: 200 on the leader. */
async function isLeader(node: ClusterNodeProcess): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${node.httpPort}/api/cluster/role`, { signal: AbortSignal.timeout(1000) })).status === 200;
  } catch {
    return false;
  }
}

async function waitForClusterLeader(nodes: readonly ClusterNodeProcess[]): Promise<ClusterNodeProcess> {
  for (let i = 0; i < 600; i++) {
    const leaders = (await Promise.all(nodes.map(async (n) => ((await isLeader(n)) ? n : null)))).filter((n) => n !== null);
    if (leaders.length === 1) return leaders[0]!;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error('the Tributary cluster elected no leader');
}

/**
 * Three Tributary nodes with a cluster block (durability fsync, acks quorum) on loopback, their
 * MQTT addresses leader first (the generator's connections go to the first that accepts them:
 * followers answer CONNACK 3). Each data directory is initialised first (`tributary cluster init`),
 * as an install does (docs/replication.md, "Bootstrapping a cluster"): any two elect, where
 * uninitialised nodes wait for all three; a node killed for the failover figure is started again
 * on its data without init, as a member is.
 */
async function startTributaryCluster(dir: string): Promise<Peer | null> {
  const launch = startScriptSettings();
  const ids = ['t1', 't2', 't3'];
  const ports: Array<{ mqtt: number; http: number; cluster: number }> = [];
  for (const _ of ids) ports.push({ mqtt: await freePort(), http: await freePort(), cluster: await freePort() });
  const children: ChildProcess[] = [];
  const nodes = ids.map((id, i): ClusterNodeProcess => {
    const dataDir = join(dir, `tributary-${id}`);
    mkdirSync(dataDir, { recursive: true });
    const config = join(dir, `tributary-${id}.yaml`);
    const peers = ids.flatMap((other, j) => (j === i ? [] : [`{ id: ${other}, address: "127.0.0.1:${ports[j]!.cluster}" }`]));
    writeFileSync(
      config,
      [
        `dataDir: ${JSON.stringify(dataDir)}`,
        `mqtt: { host: 127.0.0.1, port: ${ports[i]!.mqtt}, websocket: { enabled: false } }`,
        `http: { port: ${ports[i]!.http} }`,
        'log: { durability: fsync }',
        `cluster: { nodeId: ${id}, listen: { host: 127.0.0.1, port: ${ports[i]!.cluster} }, acks: quorum, peers: [${peers.join(', ')}] }`,
        '',
      ].join('\n'),
    );
    const init = spawnSync(process.execPath, [CLI, 'cluster', 'init', '--config', config], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`tributary cluster init of ${id} failed (${init.status}):\n${init.stdout}${init.stderr}`);
    const node: ClusterNodeProcess = {
      name: id,
      mqttPort: ports[i]!.mqtt,
      httpPort: ports[i]!.http,
      process: null as unknown as ChildProcess,
      start: async () => {
        const profile = PROFILE_DIR === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, id)}`];
        const child = spawn(process.execPath, [...launch.nodeFlags, ...profile, CLI, 'start', '--config', config], {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: { ...launch.env, ...process.env, LOG_LEVEL: 'warn' },
        });
        node.process = child;
        children.push(child);
        await waitForPort(node.httpPort, child, `tributary ${id}`);
      },
    };
    return node;
  });
  for (const node of nodes) await node.start();
  const leader = await waitForClusterLeader(nodes);
  tributaryCluster = { nodes, children };
  return {
    name: 'tributary-cluster',
    addresses: [leader, ...nodes.filter((n) => n !== leader)].map((n) => ({ host: '127.0.0.1', port: n.mqttPort })),
    processes: nodes.map((n) => ({ name: n.name, process: n.process })),
    describe: `3 nodes, fsync, acks quorum, leader ${leader.name}`,
    stop: () => stopChildren(children),
  };
}

/**
 * Failover as a device that knows every address sees it: an MQTT.js publisher sends QoS 1 messages
 * one after another (moving to the next address when its connection ends or is refused); the leader
 * is SIGKILLed; the figure is the time from the kill to the first PUBACK from another node. The
 * killed node is started again and the cluster settles before the next kill.
 */
async function measureFailover(kills: number): Promise<{ samplesMs: number[]; p50Ms: number; maxMs: number } | null> {
  if (tributaryCluster === null || kills === 0) return null;
  const { nodes } = tributaryCluster;
  const samples: number[] = [];
  for (let k = 0; k < kills; k++) {
    const leader = await waitForClusterLeader(nodes);
    let killedAt = 0;
    let firstAckAt = 0;
    let stop = false;
    const publisher = (async () => {
      for (let turn = 0; !stop; turn++) {
        const node = nodes[turn % nodes.length]!;
        const client = mqtt.connect(`mqtt://127.0.0.1:${node.mqttPort}`, { clientId: `failover-${k}`, reconnectPeriod: 0, connectTimeout: 1000, keepalive: 2 });
        const up = await new Promise<boolean>((done) => {
          client.once('connect', () => done(true));
          client.once('error', () => done(false));
          client.once('close', () => done(false));
        });
        if (!up) {
          client.end(true);
          if (turn % nodes.length === nodes.length - 1) await new Promise((done) => setTimeout(done, 20));
          continue;
        }
        while (!stop && client.connected) {
          const ok = await new Promise<boolean>((done) => {
            const closed = (): void => done(false);
            client.once('close', closed);
            client.publish('bench/failover', 'x', { qos: 1 }, (err) => {
              client.removeListener('close', closed);
              done(err == null);
            });
          });
          if (ok && killedAt > 0 && node !== leader && firstAckAt === 0) firstAckAt = Date.now();
          if (!ok) break;
        }
        client.end(true);
      }
    })();
    await new Promise((done) => setTimeout(done, 1000)); // the publisher runs on the leader
    killedAt = Date.now();
    const exited = new Promise<void>((done) => leader.process.once('close', () => done()));
    leader.process.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 600 && firstAckAt === 0; i++) await new Promise((done) => setTimeout(done, 10));
    stop = true;
    await publisher;
    if (firstAckAt > 0) samples.push(firstAckAt - killedAt);
    await leader.start();
    await waitForClusterLeader(nodes);
    await new Promise((done) => setTimeout(done, 2000)); // the restarted node catches up
  }
  if (samples.length === 0) return { samplesMs: [], p50Ms: NaN, maxMs: NaN };
  return { samplesMs: samples, p50Ms: median(samples), maxMs: Math.max(...samples) };
}

async function startTributarySingle(dir: string): Promise<Peer> {
  const port = await freePort();
  const launch = startScriptSettings();
  const dataDir = join(dir, 'tributary-single');
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(process.execPath, [...launch.nodeFlags, CLI, 'start', '--data-dir', dataDir, '--mqtt-port', String(port), '--ws-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...launch.env, ...process.env, LOG_LEVEL: 'warn', TRIBUTARY_LOG_DURABILITY: 'fsync' },
  });
  await waitForPort(port, child, 'tributary');
  return { name: 'tributary-single', addresses: [{ host: '127.0.0.1', port }], processes: [{ name: 'tributary', process: child }], describe: 'one node, durability fsync', stop: () => stopChildren([child]) };
}

async function startMosquittoPeer(dir: string): Promise<Peer> {
  const mdir = join(dir, 'mosquitto');
  mkdirSync(mdir, { recursive: true });
  const { port, process: child } = await startMosquitto(mdir);
  return { name: 'mosquitto', addresses: [{ host: '127.0.0.1', port }], processes: [{ name: 'mosquitto', process: child }], describe: 'in memory, for reference', stop: () => stopChildren([child]) };
}

interface Run {
  msgsPerSec: number;
  /** CPU of each of the peer's processes over the run, in cores. */
  cpu: Record<string, number>;
  /** CPU µs per acknowledged message, per node: all threads, the main thread, the busiest other thread, the rest. */
  cpuPerMessage: Record<string, ThreadSplit>;
  latency: { p50Ms: number; p99Ms: number } | null;
}

interface ThreadSplit {
  totalUs: number;
  mainUs: number;
  busiestUs: number;
  restUs: number;
}

/** Each thread's CPU seconds between two readings of threadCpuSeconds, split as ThreadSplit (µs per message). */
function splitThreads(pid: number, before: Map<number, number>, after: Map<number, number>, messages: number): ThreadSplit {
  const perMessage = (seconds: number): number => (messages > 0 ? (seconds * 1e6) / messages : 0);
  let main = 0;
  const others: number[] = [];
  for (const [tid, seconds] of after) {
    const used = seconds - (before.get(tid) ?? 0);
    if (tid === pid) main = used;
    else others.push(used);
  }
  others.sort((a, b) => b - a);
  const busiest = others[0] ?? 0;
  const rest = others.slice(1).reduce((sum, s) => sum + s, 0);
  return { totalUs: perMessage(main + busiest + rest), mainUs: perMessage(main), busiestUs: perMessage(busiest), restUs: perMessage(rest) };
}

async function drive(peer: Peer, rate?: number): Promise<Run> {
  const before = peer.processes.map((p) => cpuSeconds(p.process));
  const threadsBefore = peer.processes.map((p) => threadCpuSeconds(p.process.pid!));
  const first = peer.addresses[0]!;
  const result = await runRawPublisher({
    host: first.host,
    port: first.port,
    addresses: peer.addresses,
    connections: CONNECTIONS,
    payloadBytes: PAYLOAD,
    window: WINDOW,
    durationMs: SECONDS * 1000,
    clientIdPrefix: `bench-${peer.name}`,
    ...(rate === undefined ? {} : { rate }),
  });
  const cpu = Object.fromEntries(peer.processes.map((p, i) => [p.name, (cpuSeconds(p.process) - before[i]!) / result.seconds]));
  const cpuPerMessage = Object.fromEntries(peer.processes.map((p, i) => [p.name, splitThreads(p.process.pid!, threadsBefore[i]!, threadCpuSeconds(p.process.pid!), result.acked)]));
  return { msgsPerSec: result.msgsPerSec, cpu, cpuPerMessage, latency: result.latency };
}

interface PeerFigures {
  describe: string;
  msgsPerSec: number;
  runs: number[];
  cpuPerNode: Record<string, number>;
  cpuPerMessage: Record<string, ThreadSplit>;
  puback: { p50Ms: number; p99Ms: number } | null;
}

async function main(): Promise<void> {
  const scratch = benchScratch('cluster');
  const starters: Array<[string, (dir: string) => Promise<Peer | null>]> = [
    ['tributary-cluster', startTributaryCluster],
    ['nats-r3', startNats],
    ['tributary-single', startTributarySingle],
    ['mosquitto', startMosquittoPeer],
  ];
  const peers: Peer[] = [];
  const missing: string[] = [];
  try {
    for (const [name, start] of starters) {
      if (PEERS !== null && !PEERS.has(name)) continue;
      const peer = await start(scratch.dir);
      if (peer === null) missing.push(name);
      else {
        peers.push(peer);
        scratch.children.push(...peer.processes.map((p) => p.process));
      }
    }
    if (missing.includes('tributary-cluster')) {
      process.stderr.write('bench:cluster: the Tributary cluster did not start; measuring the peers only, ratios and failover stay null\n');
    }
    const runs = new Map<string, Run[]>(peers.map((p) => [p.name, []]));
    for (let r = 0; r < RUNS; r++) {
      // Alternating: run r of every peer before run r + 1 of any.
      for (const peer of peers) runs.get(peer.name)!.push(await drive(peer));
    }
    const figures: Record<string, PeerFigures> = {};
    for (const peer of peers) {
      const mine = runs.get(peer.name)!;
      const middle = mine.find((run) => run.msgsPerSec === median(mine.map((m) => m.msgsPerSec)))!;
      const latency = await drive(peer, RATE);
      figures[peer.name] = { describe: peer.describe, msgsPerSec: middle.msgsPerSec, runs: mine.map((m) => Math.round(m.msgsPerSec)), cpuPerNode: middle.cpu, cpuPerMessage: middle.cpuPerMessage, puback: latency.latency };
    }
    printTable(figures, missing);
    const ratio = (a: string, b: string): number | null => (figures[a] === undefined || figures[b] === undefined ? null : figures[a]!.msgsPerSec / figures[b]!.msgsPerSec);
    const summary = {
      bench: 'cluster',
      connections: CONNECTIONS,
      window: WINDOW,
      seconds: SECONDS,
      runs: RUNS,
      latencyRate: RATE,
      peers: figures,
      missing,
      ratioVsNats: ratio('tributary-cluster', 'nats-r3'),
      ratioVsSingle: ratio('tributary-cluster', 'tributary-single'),
      // SIGKILL of the leader under load, time to the first PUBACK from the new one.
      failover: await measureFailover(FAILOVER_KILLS),
    };
    if (summary.failover !== null) process.stdout.write(`failover (SIGKILL of the leader to the first PUBACK from another node, ${FAILOVER_KILLS} kills): ${summary.failover.samplesMs.join(' / ')} ms, p50 ${summary.failover.p50Ms} ms, max ${summary.failover.maxMs} ms\n`);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    for (const peer of peers) await peer.stop();
    scratch.cleanup();
  }
}

function printTable(figures: Record<string, PeerFigures>, missing: string[]): void {
  const rows = Object.entries(figures).map(([name, f]) => [
    name,
    Math.round(f.msgsPerSec).toLocaleString('en'),
    f.runs.map((r) => r.toLocaleString('en')).join(' · '),
    f.puback === null ? '-' : `${f.puback.p50Ms.toFixed(2)} / ${f.puback.p99Ms.toFixed(2)}`,
    Object.entries(f.cpuPerNode)
      .map(([node, cores]) => `${node} ${cores.toFixed(2)}`)
      .join(', '),
    f.describe,
  ]);
  for (const name of missing) rows.unshift([name, 'not built yet', '', '', '', 'replication (issue 17) has not landed']);
  const header = ['peer', 'msg/s (median)', 'runs', `PUBACK p50 / p99 ms at ${RATE.toLocaleString('en')}/s`, 'CPU per node (cores)', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`MQTT QoS 1, ${CONNECTIONS} connections x ${WINDOW} in flight, ${PAYLOAD}-byte payloads, ${SECONDS} s per run, ${RUNS} alternating run(s)\n`);
  process.stdout.write(`${line(header)}\n${rows.map(line).join('\n')}\n`);
  process.stdout.write('CPU per message (µs, the median run): per node, all threads = main + busiest other thread + the rest\n');
  for (const [name, f] of Object.entries(figures)) {
    const nodes = Object.entries(f.cpuPerMessage).map(([node, t]) => `${node} ${t.totalUs.toFixed(2)} = ${t.mainUs.toFixed(2)} + ${t.busiestUs.toFixed(2)} + ${t.restUs.toFixed(2)}`);
    process.stdout.write(`  ${name}: ${nodes.join(', ')}\n`);
  }
}

await main();
