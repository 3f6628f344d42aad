// Real `tributary start` processes forming a replicated cluster on loopback, for tests: one data
// directory and set of ports each, a cluster block naming the others. Faults are signals
// (SIGKILL, SIGSTOP, SIGCONT) and restarts; network faults are another helper's job.
import type { ClusterStatus } from '../../bridge/cluster/cluster-node.js';
import { singleLeader } from './cluster/cluster-status.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeBatch } from '../../broker/log/record-batch.js';
import { CLI, freePort, runCli } from './cli.js';
import { onCleanup } from './cleanup.js';
import { tempDir } from './temp-dir.js';
import { PATIENCE_MS, pollUntil } from './wait-for.js';

export interface Replica {
  id: string;
  dir: string;
  mqttPort: number;
  httpPort: number;
  /** Its Kafka endpoint's port (startReplicas with { kafka: true }); 0 without one. */
  kafkaPort: number;
  child: ChildProcess;
  /** Everything it printed, for failure messages. */
  output(): string;
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (a clean stop) and wait for the exit; its exit code (null: it was not running or ended by a signal). */
  stop(): Promise<number | null>;
  /** Starts it again on the same directory and ports. */
  restart(): Promise<void>;
  /** GET /api/cluster; null when it does not answer. */
  status(): Promise<ClusterStatusJson | null>;
  /** `tributary cluster init` (`witness init`) on its config; throws with the output when it fails. */
  init(): void;
  /** Its config file. */
  config: string;
}

/** What GET /api/cluster answers: the node's ClusterStatus as JSON. */
export type ClusterStatusJson = ClusterStatus;

interface ReplicaOptions {
  electionTimeoutMs?: number;
  acks?: 'quorum' | 'all';
  extraYaml?: string;
  name?: string;
  kafka?: boolean;
  peerMqtt?: boolean;
  /** Replica n(index+1)'s data directory on a tmpfs of `sizeMb` of its own (a new one at each start: see tinyDiskCommand). */
  tinyDisk?: { index: number; sizeMb: number };
  /** Lines added to one replica's cluster block (indented by two spaces), e.g. its own cluster.tls; the witness's too, with id 'w'. */
  clusterYaml?: (id: string) => string;
  /** More keys of the mqtt block (flow style). */
  mqttYaml?: string;
  /**
   * Which nodes' data directories `tributary cluster init` (`witness init`) formats before their
   * first start, as an install does: true (the default) every node, false none (each starts as a
   * wiped member would), or a list of ids. A tinyDisk replica is never initialised (a new tmpfs at
   * each start).
   */
  init?: boolean | readonly string[];
  /** Which nodes are started (default all); the others are made (config, ports) but left for the test to restart. */
  start?: readonly string[];
}

/** Starts `count` replicas n1..nN; resolves once each serves HTTP. Stopped with the test. */
export async function startReplicas(t: TestContext, count = 3, options: ReplicaOptions = {}): Promise<Replica[]> {
  return (await startCluster(t, count, false, options)).replicas;
}

/**
 * Two data nodes n1, n2 and a witness w (`tributary witness`, docs/replication.md), which the data
 * nodes list with witness: true. The witness is a Replica with no MQTT port and no log.db; its
 * status is its GET /api/cluster (role 'witness').
 */
export async function startReplicasWithWitness(t: TestContext, options: ReplicaOptions = {}): Promise<{ replicas: Replica[]; witness: Replica }> {
  const { replicas, witness } = await startCluster(t, 2, true, options);
  return { replicas, witness: witness! };
}

async function startCluster(t: TestContext, count: number, withWitness: boolean, options: ReplicaOptions): Promise<{ replicas: Replica[]; witness: Replica | null }> {
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const ports = await Promise.all([...ids, 'w'].map(async () => ({ mqtt: await freePort(), http: await freePort(), cluster: await freePort(), kafka: options.kafka === true ? await freePort() : 0 })));
  const witnessPorts = ports[count]!;
  const root = tempDir(t, 'tributary-replicas-');
  const replicas = ids.map((id, i) => {
    const dir = join(root, id);
    const config = join(root, `${id}.yaml`);
    const kafkaOf = (j: number): string => (options.kafka === true ? `, kafka: "127.0.0.1:${ports[j]!.kafka}"` : '');
    // peerMqtt: each peer's MQTT address too (cluster.peers[].mqtt, the MQTT 5.0 redirect).
    const mqttOf = (j: number): string => (options.peerMqtt === true ? `, mqtt: "127.0.0.1:${ports[j]!.mqtt}"` : '');
    const peers = ids.flatMap((other, j) => (j === i ? [] : [`{ id: ${other}, address: "127.0.0.1:${ports[j]!.cluster}"${kafkaOf(j)}${mqttOf(j)} }`]));
    if (withWitness) peers.push(`{ id: w, address: "127.0.0.1:${witnessPorts.cluster}", witness: true }`);
    writeFileSync(
      config,
      `dataDir: ${JSON.stringify(dir)}
mqtt: { host: 127.0.0.1, port: ${ports[i]!.mqtt}, websocket: { enabled: false }${options.mqttYaml === undefined ? '' : `, ${options.mqttYaml}`} }
http: { port: ${ports[i]!.http} }
${options.kafka === true ? `kafka: { enabled: true, host: 127.0.0.1, port: ${ports[i]!.kafka} }\n` : ''}logging: { level: info, format: json }
cluster:
  nodeId: ${id}
  name: ${options.name ?? 'test-cluster'}
  listen: { host: 127.0.0.1, port: ${ports[i]!.cluster} }
  electionTimeoutMs: ${options.electionTimeoutMs ?? 1500}
  fetchMaxWaitMs: 100
  acks: ${options.acks ?? 'quorum'}
  peers: [${peers.join(', ')}]
${options.clusterYaml?.(id) ?? ''}
${options.extraYaml ?? ''}`,
    );
    const command = options.tinyDisk?.index === i ? tinyDiskCommand(dir, options.tinyDisk.sizeMb) : undefined;
    return makeReplica(t, id, dir, config, ports[i]!.mqtt, ports[i]!.http, ports[i]!.kafka, 'start', command);
  });
  let witness: Replica | null = null;
  if (withWitness) {
    const config = join(root, 'w.yaml');
    writeFileSync(
      config,
      `dataDir: ${JSON.stringify(join(root, 'w'))}
http: { port: ${witnessPorts.http} }
logging: { level: info, format: json }
cluster:
  nodeId: w
  listen: { host: 127.0.0.1, port: ${witnessPorts.cluster} }
  electionTimeoutMs: ${options.electionTimeoutMs ?? 1500}
  fetchMaxWaitMs: 100
  peers: [${ids.map((id, j) => `{ id: ${id}, address: "127.0.0.1:${ports[j]!.cluster}" }`).join(', ')}]
${options.clusterYaml?.('w') ?? ''}
`,
    );
    witness = makeReplica(t, 'w', join(root, 'w'), config, 0, witnessPorts.http, 0, 'witness');
  }
  const chosen = (option: boolean | readonly string[] | undefined, id: string): boolean => (Array.isArray(option) ? option.includes(id) : option !== false);
  for (const r of [...replicas, ...(witness === null ? [] : [witness])]) {
    if (options.tinyDisk !== undefined && r === replicas[options.tinyDisk.index]) continue;
    if (chosen(options.init, r.id)) r.init();
  }
  for (const r of replicas) if (chosen(options.start, r.id)) await r.restart();
  if (witness !== null && chosen(options.start, witness.id)) await witness.restart();
  return { replicas, witness };
}

/**
 * The node's command run on a tmpfs of `sizeMb` mounted at `dir`, in a mount namespace of its own
 * made by util-linux's `unshare` (no root needed; the network is this one's). The process is the
 * node (each step execs the next), so its data directory is reachable as /proc/<pid>/root<dir>.
 * The tmpfs ends with the process: a restart starts on an empty one.
 */
function tinyDiskCommand(dir: string, sizeMb: number): { file: string; prefix: string[] } {
  mkdirSync(dir, { recursive: true });
  const script = `mount -t tmpfs -o size=${sizeMb}m tributary-test "$1" && shift && exec "$@"`;
  return { file: 'unshare', prefix: ['--user', '--map-root-user', '--mount', 'sh', '-c', script, 'sh', dir, process.execPath] };
}

function makeReplica(t: TestContext, id: string, dir: string, config: string, mqttPort: number, httpPort: number, kafkaPort = 0, subcommand: 'start' | 'witness' = 'start', command?: { file: string; prefix: string[] }): Replica {
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const replica: Replica = {
    id,
    dir,
    config,
    mqttPort,
    httpPort,
    kafkaPort,
    get child() {
      return child!;
    },
    output: () => output,
    signal: (signal) => {
      child?.kill(signal);
    },
    kill: async () => {
      if (child !== null && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exited;
    },
    stop: async () => {
      if (child === null || child.exitCode !== null || child.signalCode !== null) return null;
      const stopping = child;
      stopping.kill('SIGTERM');
      await exited;
      return stopping.exitCode;
    },
    restart: async () => {
      await replica.kill();
      const args = [CLI, subcommand, '--config', config];
      const started = command === undefined ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(command.file, [...command.prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      started.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      exited = new Promise<void>((resolve) => started.on('close', () => resolve()));
      // This start's line, not an earlier start's: the output accumulates across restarts.
      const from = output.length;
      const listening = (): boolean => output.indexOf('HTTP API listening', from) >= 0;
      await pollUntil(() => listening() || started.exitCode !== null, PATIENCE_MS, 25);
      if (!listening()) throw new Error(`replica ${id} did not start:\n${output.slice(from)}`);
    },
    init: () => {
      const r = runCli(subcommand === 'start' ? ['cluster', 'init', '--config', config] : ['witness', 'init', '--config', config]);
      if (r.status !== 0) throw new Error(`init of ${id} failed (${r.status}):\n${r.stdout}${r.stderr}`);
    },
    status: async () => {
      try {
        // Null means the node does not answer (down, stopped); a running node on a loaded machine can
        // take seconds, and tests read `(await r.status())!` of nodes that run: so a generous bound.
        const res = await fetch(`http://127.0.0.1:${httpPort}/api/cluster`, { signal: AbortSignal.timeout(10_000) });
        return (await res.json()) as ClusterStatusJson;
      } catch {
        return null;
      }
    },
  };
  onCleanup(t, () => replica.kill());
  return replica;
}

/** Waits (bounded) until exactly one of `replicas` leads an epoch that the others follow with it as leader. */
export async function waitForLeader(replicas: readonly Replica[], timeoutMs = PATIENCE_MS): Promise<Replica> {
  let last: Array<ClusterStatusJson | null> = [];
  let index = -1;
  const found = async (): Promise<boolean> => {
    last = await Promise.all(replicas.map((r) => r.status()));
    index = singleLeader(last);
    return index >= 0;
  };
  if (await pollUntil(found, timeoutMs, 50)) return replicas[index]!;
  throw new Error(`no single leader: ${JSON.stringify(last)}`);
}

/** Waits (bounded) until every replica's last position and commit position reach `seq`. */
export async function waitForReplicated(replicas: readonly Replica[], seq: number, timeoutMs = PATIENCE_MS): Promise<void> {
  let last: unknown[] = [];
  const reached = async (): Promise<boolean> => {
    const statuses = await Promise.all(replicas.map((r) => r.status()));
    last = statuses;
    return statuses.every((s) => s !== null && s.last.seq >= seq && s.commitSeq >= seq);
  };
  if (await pollUntil(reached, timeoutMs, 50)) return;
  throw new Error(`not replicated up to ${seq}: ${JSON.stringify(last)}`);
}

/** A replica's stored entries, read from its log.db (read-only; the node may be running): position, topic, bytes. */
export function storedEntries(replica: Replica): { seq: number; topic: string; partition: number; data: Buffer }[] {
  const db = new Database(join(replica.dir, 'log.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(`SELECT b.id AS seq, p.topic, p.partition, b.data FROM batches b JOIN partitions p ON p.id = b.partition_id ORDER BY b.id`)
      .all() as { seq: number; topic: string; partition: number; data: Buffer }[];
  } finally {
    db.close();
  }
}

/** The values of every record of `topic` a replica stores, in log order. */
export function storedValues(replica: Replica, topic = 'mqtt'): string[] {
  return storedEntries(replica)
    .filter((e) => e.topic === topic)
    .flatMap((e) => decodeBatch(e.data).records.map((r) => r.value?.toString() ?? ''));
}

/** Publishes `prefix-0..count-1` at QoS 1, 10 in flight; resolves with the payloads that were PUBACKed. */
export async function publishCounted(client: MqttClient, prefix: string, count: number): Promise<string[]> {
  const acked: string[] = [];
  let next = 0;
  await new Promise<void>((resolve) => {
    // A connection that ends leaves its unacknowledged publishes without a callback: done then too.
    client.once('close', () => resolve());
    let open = 0;
    const pump = (): void => {
      while (open < 10 && next < count) {
        const payload = `${prefix}-${next++}`;
        open++;
        client.publish('plant/line/power', payload, { qos: 1 }, (err) => {
          if (err == null) acked.push(payload);
          open--;
          if (next === count && open === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  return acked;
}

/** `count` QoS 1 messages `prefix-i` to the MQTT port `port`; every one PUBACKed (publishAsync rejects otherwise). */
export async function publishAll(port: number, prefix: string, count: number): Promise<string[]> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `${prefix}-publisher`, reconnectPeriod: 0, connectTimeout: 30_000 });
  try {
    const payloads = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    await Promise.all(payloads.map((p) => client.publishAsync('plant/line/power', p, { qos: 1 })));
    return payloads;
  } finally {
    await client.endAsync(true);
  }
}
