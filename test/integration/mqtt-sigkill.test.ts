// Power cut under load: SIGKILL a real `tributary start` while QoS 1 publishers stream into it,
// then open the log. Every message that got a PUBACK must be there, exactly once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Log } from '../../broker/log/log.js';
import { tempDir } from '../helpers/temp-dir.js';

const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));
const PUBLISHERS = 4;
const ROUNDS = 3;

/** Starts the real CLI on ephemeral ports; resolves with the process and its MQTT port. */
async function startTributary(dataDir: string): Promise<{ kill: () => Promise<void>; port: number }> {
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--mqtt-port', '0', '--ws-port', '0', '--http-port', '0'], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; tcp?: string };
      if (entry.msg === 'MQTT listening') resolve(Number(new URL(entry.tcp!).port));
    });
    void exited.then(() => reject(new Error(`tributary exited before listening:\n${stderr}`)));
  });
  return {
    port,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Publishes `round-i-n` messages at QoS 1 with 50 in flight until stopped; returns what was acked. */
function publishUntilStopped(port: number, name: string): { acked: Set<string>; sent: Set<string>; stop: () => void } {
  const acked = new Set<string>();
  const sent = new Set<string>();
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: name, reconnectPeriod: 0 });
  client.on('error', () => undefined);
  let n = 0;
  let stopped = false;
  const pump = (): void => {
    if (stopped || !client.connected) return;
    const payload = `${name}-${n++}`;
    sent.add(payload);
    client.publish(`plant/${name}/power`, payload, { qos: 1 }, (err) => {
      if (err === undefined || err === null) acked.add(payload);
      pump();
    });
  };
  client.on('connect', () => {
    for (let i = 0; i < 50; i++) pump();
  });
  return { acked, sent, stop: () => ((stopped = true), client.end(true)) };
}

test('SIGKILL under a QoS 1 load: every PUBACKed message is in the log after restart, none twice', async (t) => {
  const dataDir = tempDir(t);
  const acked = new Set<string>();
  const sent = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const tributary = await startTributary(dataDir);
    const publishers = Array.from({ length: PUBLISHERS }, (_, i) => publishUntilStopped(tributary.port, `r${round}-p${i}`));
    // Kill once a good number of messages are through, so the kill lands mid-stream.
    while (publishers.reduce((sum, p) => sum + p.acked.size, 0) < 2000) await new Promise((resolve) => setTimeout(resolve, 5));
    await tributary.kill();
    for (const p of publishers) {
      p.stop();
      p.acked.forEach((m) => acked.add(m));
      p.sent.forEach((m) => sent.add(m));
    }
  }

  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  const stored: string[] = [];
  for (const p of log.topics().find((topic) => topic.name === 'mqtt')!.partitions) {
    for (let offset = p.logStartOffset; offset < p.logEndOffset; ) {
      const read = log.read('mqtt', p.partition, offset, { maxRecords: 10_000 });
      stored.push(...read.records.map((r) => r.value!.toString()));
      offset = read.nextOffset;
    }
  }
  const storedSet = new Set(stored);
  assert.equal(storedSet.size, stored.length, 'no message stored twice');
  const lost = [...acked].filter((m) => !storedSet.has(m));
  assert.deepEqual(lost, [], `${lost.length} acknowledged messages lost`);
  assert.ok([...storedSet].every((m) => sent.has(m)), 'nothing stored that was not sent');
  assert.ok(acked.size >= 2000 * ROUNDS);
});
