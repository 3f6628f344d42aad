// Power cut of the gateway while it forwards: SIGKILL a real `tributary start` (exactly-once mode)
// several times while QoS 1 publishers stream into it and its forwarder is busy, restart it, and
// read Kafka with kcat (read_committed): every stored record is upstream exactly once, in order.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import YAML from 'yaml';
import { Log } from '../../broker/log/log.js';
import type { UpstreamStatus } from '../../bridge/upstream/forwarder.js';
import { startKafka } from '../helpers/kafka.js';
import { tempDir } from '../helpers/temp-dir.js';
import { readUpstream } from '../helpers/upstream.js';

const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));
const ROUNDS = 3;

interface Running {
  mqttPort: number;
  status(): Promise<UpstreamStatus>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

async function startTributary(config: string, dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', config, '--data-dir', dataDir, '--mqtt-port', '0', '--ws-port', '0', '--http-port', '0'], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const ports = await new Promise<{ mqtt: number; http: number }>((resolve, reject) => {
    let mqttPort = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; tcp?: string; url?: string };
      if (entry.msg === 'MQTT listening') mqttPort = Number(new URL(entry.tcp!).port);
      if (entry.msg === 'HTTP API listening') resolve({ mqtt: mqttPort, http: Number(new URL(entry.url!).port) });
    });
    void exited.then(() => reject(new Error(`tributary exited before listening:\n${stderr}`)));
  });
  return {
    mqttPort: ports.mqtt,
    status: async () => (await (await fetch(`http://127.0.0.1:${ports.http}/api/upstream`)).json()) as UpstreamStatus,
    kill: async (signal) => {
      child.kill(signal);
      await exited;
    },
  };
}

function publishUntilStopped(port: number, name: string): { acked: () => number; stop: () => void } {
  let acked = 0;
  let stopped = false;
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: name, reconnectPeriod: 0 });
  client.on('error', () => undefined);
  let n = 0;
  const pump = (): void => {
    if (stopped || !client.connected) return;
    client.publish(`line-${n % 7}/${name}`, `${name}-${n++}`, { qos: 1 }, (err) => {
      if (err === undefined || err === null) acked += 1;
      pump();
    });
  };
  client.on('connect', () => {
    for (let i = 0; i < 20; i++) pump();
  });
  return { acked: () => acked, stop: () => ((stopped = true), client.end(true)) };
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What differs between the offsets found upstream and the local ones: missing, duplicated, extra, out of order (as ranges). */
function offsetDiff(upstream: number[], local: number[]): string {
  const localSet = new Set(local);
  const seen = new Map<number, number>();
  for (const o of upstream) seen.set(o, (seen.get(o) ?? 0) + 1);
  const missing = local.filter((o) => !seen.has(o));
  const duplicated = [...seen].filter(([o, n]) => n > 1 && localSet.has(o)).map(([o]) => o);
  const extra = [...seen.keys()].filter((o) => !localSet.has(o));
  const outOfOrder = upstream.findIndex((o, i) => i > 0 && o <= upstream[i - 1]!);
  return [
    `local ${ranges(local)} (${local.length}), upstream ${upstream.length} records`,
    `missing upstream: ${ranges(missing)}`,
    `duplicated upstream: ${ranges(duplicated)}`,
    `upstream but not local: ${ranges(extra)}`,
    `first out of order upstream: ${outOfOrder === -1 ? 'none' : `index ${outOfOrder} (offset ${upstream[outOfOrder]} after ${upstream[outOfOrder - 1]})`}`,
  ].join('; ');
}

/** Offsets as compact ranges: 0-41, 43, 45-99. */
function ranges(offsets: number[]): string {
  const sorted = [...new Set(offsets)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.length === 0 ? 'none' : parts.join(', ');
}

test('SIGKILL of Tributary in the middle of forwarding, three times: Kafka still holds every record exactly once, in order', async (t) => {
  const kafka = await startKafka(t);
  const dataDir = tempDir(t);
  const config = join(tempDir(t), 'tributary.yaml');
  writeFileSync(
    config,
    YAML.stringify({
      node: { id: 'gw-kill' },
      mqtt: { host: '127.0.0.1', mapping: { rules: [{ filter: '#', topic: 'telemetry', key: '{mqtt.topic}' }] } },
      topics: [{ name: 'telemetry', partitions: 2 }],
      upstream: { enabled: true, brokers: [kafka.bootstrap], batchRecords: 150, retryInitial: 100, retryMax: 1000, requestTimeout: 5000 },
    }),
  );

  let forwardedBefore = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const tributary = await startTributary(config, dataDir);
    const publisher = publishUntilStopped(tributary.mqttPort, `round${round}`);
    // Kill while batches are being committed: well into this round's forwarding, not at a pause.
    const threshold = 1000 + round * 700;
    await until(async () => (await tributary.status()).counters.recordsForwarded >= threshold, `round ${round}: ${threshold} records forwarded`);
    const before = await tributary.status();
    assert.equal(before.state, 'forwarding');
    forwardedBefore += before.counters.recordsForwarded;
    await tributary.kill('SIGKILL');
    publisher.stop();
  }

  const last = await startTributary(config, dataDir);
  await until(async () => {
    const s = await last.status();
    return s.state === 'forwarding' && s.totalLag === 0;
  }, 'caught up after the last restart');
  await last.kill('SIGTERM');

  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  const records = await readUpstream(kafka.bootstrap, 'edge.gw-kill.telemetry');
  let stored = 0;
  for (const partition of [0, 1]) {
    const local = log.read('telemetry', partition, 0, { maxRecords: 10_000_000, maxBytes: 1 << 30 }).records;
    stored += local.length;
    const upstream = records.filter((r) => r.partition === partition);
    const upstreamOffsets = upstream.map((r) => Number(r.headers['tributary.offset']));
    const localOffsets = local.map((r) => r.offset);
    assert.deepEqual(upstreamOffsets, localOffsets, `partition ${partition}: each offset once, in order; ${offsetDiff(upstreamOffsets, localOffsets)}`);
    assert.deepEqual(upstream.map((r) => r.value), local.map((r) => r.value!.toString()));
  }
  assert.equal(records.length, stored);
  assert.ok(forwardedBefore > 0 && stored > forwardedBefore / 2, `a real stream was forwarded (${stored} stored)`);
});
