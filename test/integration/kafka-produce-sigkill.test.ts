// Power cut under a Kafka produce load: SIGKILL a real `tributary start` (kafka.enabled) while
// idempotent producers stream batches into it, restart it, and let each producer do what a Kafka
// producer does after losing its connection: send again, with the same producer id, epoch and
// sequence, the batch it had in flight, and (as when an answer was lost on the way) the last batch
// it had been answered for. Every acknowledged record must be in the log exactly once, at the
// offset it was acknowledged with, and nothing twice: the producer state survives the SIGKILL.
// The producers speak the protocol by hand (test/helpers/kafka-produce.ts) so that the retries
// are certain, not left to a client's timing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Log } from '../../broker/log/log.js';
import { clientBatch } from '../helpers/client-batch.js';
import { initProducerId, produce } from '../helpers/kafka-produce.js';
import { RawKafka } from '../helpers/raw-kafka.js';
import { tempDir } from '../helpers/temp-dir.js';

const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));
const PRODUCERS = 3;
const ROUNDS = 3;
const RECORDS_PER_BATCH = 4;

/** Starts the real CLI with the Kafka endpoint on an ephemeral port; resolves with its port and a SIGKILL. */
async function startTributary(t: TestContext, config: string, dataDir: string): Promise<{ port: number; kill: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', config, '--data-dir', dataDir, '--mqtt-port', '0', '--ws-port', '0', '--http-port', '0'], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  t.after(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'Kafka listening') resolve(Number(entry.address!.split(':').at(-1)));
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

/** An idempotent producer's view: its id, next sequence, and what it was told. */
class ProducerState {
  nextSequence = 0;
  /** The batch sent and not answered yet (in flight at the kill). */
  pending: Buffer | null = null;
  lastAnswered: { batch: Buffer; baseOffset: number } | null = null;
  /** Record value -> the offset it was acknowledged at. */
  readonly acked = new Map<string, number>();
  readonly sent = new Set<string>();

  constructor(
    readonly name: string,
    readonly producerId: number,
    readonly partition: number,
  ) {}

  nextBatch(): Buffer {
    const values = Array.from({ length: RECORDS_PER_BATCH }, (_, i) => `${this.name}-${this.nextSequence + i}`);
    values.forEach((v) => this.sent.add(v));
    const batch = clientBatch(values.map((v) => ({ timestamp: Date.now(), key: Buffer.from(this.name), value: Buffer.from(v) })), { producerId: this.producerId, producerEpoch: 0, baseSequence: this.nextSequence });
    this.nextSequence += RECORDS_PER_BATCH;
    return batch;
  }

  /** Sends `batch` and records the answer; false when the connection died first. */
  async send(kafka: RawKafka, batch: Buffer): Promise<{ ok: boolean; baseOffset?: number }> {
    this.pending = batch;
    let answers;
    try {
      answers = await produce(kafka, 9, [{ topic: 'produced', partition: this.partition, records: batch }], { acks: -1 });
    } catch {
      return { ok: false }; // the node died: the batch stays pending
    }
    const [answer] = answers!;
    assert.equal(answer!.error, 0, `${this.name}: ${answer!.message}`);
    this.pending = null;
    this.lastAnswered = { batch, baseOffset: answer!.baseOffset };
    for (let i = 0; i < RECORDS_PER_BATCH; i++) this.acked.set(`${this.name}-${batch.readInt32BE(53) + i}`, answer!.baseOffset + i);
    return { ok: true, baseOffset: answer!.baseOffset };
  }

  /** After a restart: the last answered batch again (its answer might have been lost), then the pending one. */
  async retry(kafka: RawKafka): Promise<void> {
    const pending = this.pending;
    if (this.lastAnswered !== null) {
      const { batch, baseOffset } = this.lastAnswered;
      const again = await this.send(kafka, batch);
      assert.deepEqual(again, { ok: true, baseOffset }, `${this.name}: a retry of an acknowledged batch gets its original offset`);
    }
    if (pending !== null) assert.ok((await this.send(kafka, pending)).ok);
  }
}

async function streamUntilKilled(t: TestContext, port: number, producer: ProducerState, stop: { killed: boolean }): Promise<void> {
  const kafka = await RawKafka.open(t, port);
  await producer.retry(kafka);
  while (!stop.killed) {
    if (!(await producer.send(kafka, producer.nextBatch())).ok) return;
  }
}

test('SIGKILL under an idempotent produce load: after restart and retries every acknowledged record is there once, at its offset', async (t) => {
  const dataDir = tempDir(t);
  const config = join(tempDir(t), 'tributary.yaml');
  writeFileSync(config, `kafka:\n  enabled: true\n  port: 0\ntopics:\n  - name: produced\n    partitions: 2\nlog:\n  retentionSchedule: '0 0 1 1 *'\n`);
  let producers: ProducerState[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const tributary = await startTributary(t, config, dataDir);
    if (round === 0) {
      const kafka = await RawKafka.open(t, tributary.port);
      for (let i = 0; i < PRODUCERS; i++) producers.push(new ProducerState(`p${i}`, (await initProducerId(kafka, 4))[1], i % 2));
      await kafka.close();
    }
    if (round === ROUNDS) {
      // The last start: the retries only, then a clean look at the log.
      for (const p of producers) await p.retry(await RawKafka.open(t, tributary.port));
      await tributary.kill();
      break;
    }
    const stop = { killed: false };
    const before = producers.reduce((sum, p) => sum + p.acked.size, 0);
    const streams = producers.map((p) => streamUntilKilled(t, tributary.port, p, stop));
    // Kill once a good number of batches are through, so that it lands mid-stream.
    while (producers.reduce((sum, p) => sum + p.acked.size, 0) < before + 200 * RECORDS_PER_BATCH) await new Promise((resolve) => setTimeout(resolve, 5));
    stop.killed = true;
    await tributary.kill();
    await Promise.all(streams);
  }
  producers = producers.filter((p) => p.pending === null);
  assert.equal(producers.length, PRODUCERS, 'every batch was answered in the end');

  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  const stored = new Map<string, number>();
  for (const partition of [0, 1]) {
    for (const r of log.read('produced', partition, 0, { maxRecords: 1_000_000, maxBytes: 1e9 }).records) {
      const value = r.value!.toString();
      assert.ok(!stored.has(value), `${value} stored twice`);
      stored.set(value, r.offset);
    }
  }
  for (const p of producers) {
    for (const [value, offset] of p.acked) assert.equal(stored.get(value), offset, `${value} is where it was acknowledged`);
    assert.deepEqual([...p.sent].filter((v) => !stored.has(v)), [], `${p.name}: everything sent was stored in the end`);
  }
  assert.equal(stored.size, producers.reduce((sum, p) => sum + p.sent.size, 0), 'nothing else was stored');
});
