// Real `tributary start` processes forming a replicated cluster on loopback, for tests: one data
// directory and set of ports each, a cluster block naming the others. Faults are signals
// (SIGKILL, SIGSTOP, SIGCONT) and restarts; network faults are another helper's job.
import type { ClusterStatus } from '../../bridge/cluster/cluster-node.js';
import { singleLeader } from './cluster/cluster-status.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { decodeBatch } from '../../broker/log/record-batch.js';
import { CLI, freePort } from './cli.js';
import { onCleanup } from './cleanup.js';
import { tempDir } from './temp-dir.js';

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
  /** Starts it again on the same directory and ports. */
  restart(): Promise<void>;
  /** GET /api/cluster; null when it does not answer. */
  status(): Promise<ClusterStatusJson | null>;
}

/** What GET /api/cluster answers: the node's ClusterStatus as JSON. */
export type ClusterStatusJson = ClusterStatus;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `count` replicas n1..nN; resolves once each serves HTTP. Stopped with the test. `mqttYaml`: more keys of the mqtt block (flow style). */
export async function startReplicas(t: TestContext, count = 3, options: { electionTimeoutMs?: number; acks?: 'quorum' | 'all'; extraYaml?: string; name?: string; kafka?: boolean; peerMqtt?: boolean; mqttYaml?: string } = {}): Promise<Replica[]> {
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const ports = await Promise.all(ids.map(async () => ({ mqtt: await freePort(), http: await freePort(), cluster: await freePort(), kafka: options.kafka === true ? await freePort() : 0 })));
  const root = tempDir(t, 'tributary-replicas-');
  const replicas = ids.map((id, i) => {
    const dir = join(root, id);
    const config = join(root, `${id}.yaml`);
    const kafkaOf = (j: number): string => (options.kafka === true ? `, kafka: "127.0.0.1:${ports[j]!.kafka}"` : '');
    // peerMqtt: each peer's MQTT address too (cluster.peers[].mqtt, the MQTT 5.0 redirect).
    const mqttOf = (j: number): string => (options.peerMqtt === true ? `, mqtt: "127.0.0.1:${ports[j]!.mqtt}"` : '');
    const peers = ids.flatMap((other, j) => (j === i ? [] : [`{ id: ${other}, address: "127.0.0.1:${ports[j]!.cluster}"${kafkaOf(j)}${mqttOf(j)} }`]));
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
${options.extraYaml ?? ''}`,
    );
    return makeReplica(t, id, dir, config, ports[i]!.mqtt, ports[i]!.http, ports[i]!.kafka);
  });
  for (const r of replicas) await r.restart();
  return replicas;
}

function makeReplica(t: TestContext, id: string, dir: string, config: string, mqttPort: number, httpPort: number, kafkaPort = 0): Replica {
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const replica: Replica = {
    id,
    dir,
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
    restart: async () => {
      await replica.kill();
      const started = spawn(process.execPath, [CLI, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      started.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      exited = new Promise<void>((resolve) => started.on('close', () => resolve()));
      for (let i = 0; i < 400 && !output.includes('HTTP API listening'); i++) {
        if (started.exitCode !== null) break;
        await sleep(25);
      }
      if (!output.includes('HTTP API listening')) throw new Error(`replica ${id} did not start:\n${output}`);
    },
    status: async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/api/cluster`, { signal: AbortSignal.timeout(1000) });
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
export async function waitForLeader(replicas: readonly Replica[], rounds = 300): Promise<Replica> {
  let last: unknown[] = [];
  for (let i = 0; i < rounds; i++) {
    const statuses = await Promise.all(replicas.map((r) => r.status()));
    last = statuses;
    const index = singleLeader(statuses);
    if (index >= 0) return replicas[index]!;
    await sleep(50);
  }
  throw new Error(`no single leader: ${JSON.stringify(last)}`);
}

/** Waits (bounded) until every replica's last position and commit position reach `seq`. */
export async function waitForReplicated(replicas: readonly Replica[], seq: number, rounds = 300): Promise<void> {
  let last: unknown[] = [];
  for (let i = 0; i < rounds; i++) {
    const statuses = await Promise.all(replicas.map((r) => r.status()));
    last = statuses;
    if (statuses.every((s) => s !== null && s.last.seq >= seq && s.commitSeq >= seq)) return;
    await sleep(50);
  }
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
