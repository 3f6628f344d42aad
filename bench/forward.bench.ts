// `npm run bench:forward`: the upstream forwarder against a real Kafka (test/kafka/kafka.sh).
//  1. Throughput: 1M stored 100-byte records forwarded (exactly-once, then at-least-once), beside
//     a bare @platformatic/kafka producer sending the same records (same headers, same batches of
//     `batchRecords`, one transaction per batch in the exactly-once case) in the same run, 3 runs
//     each in alternating order, medians. The bare producer's messages are built outside its
//     timing (only its sends are timed), so it is the strictest peer.
//  2. Latency: a real `tributary start` with the forwarder on, fed at a fixed 10k msg/s by the
//     raw-socket generator (device-sim/raw-publisher.ts); kcat (read_committed) consumes the
//     upstream topic; latency = arrival at the consumer - the record's timestamp, which Tributary
//     stamps when the PUBLISH arrives; records stamped in the first BENCH_WARMUP (2) s are
//     reported apart (warm-up p99), the p50/p99 are of the SECONDS after.
// Prints a table, then one JSON line ({"bench":"forward", ...}).
// BENCH_QUICK=1: 100k records and 3 s of latency; BENCH_RECORDS, BENCH_RATE, BENCH_SECONDS, BENCH_WARMUP, BENCH_DIR.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Admin, Producer } from '@platformatic/kafka';
import { pino } from 'pino';
import YAML from 'yaml';
import { CursorStore } from '../broker/cursors.js';
import { Log } from '../broker/log/log.js';
import type { LogRecord } from '../broker/log/record-batch.js';
import { loadConfig } from '../bridge/config/load.js';
import type { Config } from '../bridge/config/schema.js';
import { Forwarder } from '../bridge/upstream/forwarder.js';
import { kafkaBaseOptions } from '../bridge/upstream/kafka-options.js';
import { transactionalId } from '../bridge/upstream/transactional-sink.js';
import { MessageBuilder, upstreamSize } from '../bridge/upstream/upstream-record.js';
import { runRawPublisher } from '../device-sim/raw-publisher.js';
import { median, percentile } from './figures.js';
import { freePort, waitForPort } from './processes.js';

const run = promisify(execFile);
const QUICK = process.env.BENCH_QUICK === '1';
const RECORDS = Number(process.env.BENCH_RECORDS ?? (QUICK ? 100_000 : 1_000_000));
const RATE = Number(process.env.BENCH_RATE ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 10));
/**
 * Publishing at RATE starts this long before the measured SECONDS: the node is started fresh for
 * the latency run, and its first few hundred ms under a 10k msg/s flood (JIT, first requests on
 * each path, in Tributary and in Kafka) took 100-200 ms per record, enough to set the p99 of a
 * 10 s run on their own. Their figures are printed apart (warm-up p99).
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 2);
const RUNS = QUICK ? 1 : 3;
const BATCH = 10_000;
/** The default upstream.batchBytes. */
const BATCH_BYTES = 1_000_000;
const PARTITIONS = 2;
const KAFKA_SH = fileURLToPath(new URL('../../test/kafka/kafka.sh', import.meta.url));
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));

async function startKafka(): Promise<{ dir: string; bootstrap: string }> {
  const { stdout } = await run(KAFKA_SH, ['start'], { timeout: 360_000 });
  const [dir, bootstrap] = stdout.trim().split('\n').slice(-2) as [string, string];
  return { dir, bootstrap };
}

async function fillLog(dataDir: string): Promise<Log> {
  const log = await Log.open({ dataDir, durability: 'write', topics: [{ name: 'bench', partitions: PARTITIONS }] });
  const value = Buffer.alloc(100, 'x');
  const now = Date.now();
  for (let base = 0; base < RECORDS; base += 1000 * PARTITIONS) {
    await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) =>
        log.append('bench', p, Array.from({ length: 1000 }, (_, i) => ({ timestamp: now, key: Buffer.from(`sensor-${(base + i) % 97}`), value }))),
      ),
    );
  }
  return log;
}

function upstreamConfig(bootstrap: string, mode: 'exactly-once' | 'at-least-once'): NonNullable<Config['upstream']> {
  const defaults = loadConfig({ env: {} }).upstream!;
  return { ...defaults, enabled: true, brokers: [bootstrap], mode, batchRecords: BATCH, topicTemplate: `bench.{node}.${mode}.{topic}` };
}

/** The forwarder from a fresh cursor to the end of the log; records per second. */
async function forwardAll(log: Log, bootstrap: string, mode: 'exactly-once' | 'at-least-once', node: string): Promise<number> {
  const cursors = CursorStore.open(mkdtempSync(join(log.dataDir, 'cursors-')));
  const started = process.hrtime.bigint();
  const forwarder = Forwarder.start({ config: upstreamConfig(bootstrap, mode), node, log, cursors, logger: pino({ level: 'warn' }) });
  for (;;) {
    const status = forwarder.status();
    if (status.partitions.length === PARTITIONS && status.totalLag === 0 && status.state === 'forwarding') break;
    if (status.state === 'stopped') throw new Error(`forwarder stopped: ${status.lastError?.message}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await forwarder.close();
  cursors.close();
  return RECORDS / seconds;
}

/** The same records, same headers and batches, sent by a bare producer; records per second of sending. */
async function bareProducer(log: Log, bootstrap: string, mode: 'exactly-once' | 'at-least-once', node: string): Promise<number> {
  const topic = `bench.bare-${node}.${mode}.bench`;
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    // The same connection and retry settings as the forwarder's clients: only the forwarding differs.
    ...kafkaBaseOptions(upstreamConfig(bootstrap, mode), 'bench-bare'),
    idempotent: true,
    autocreateTopics: false,
    ...(mode === 'exactly-once' ? { transactionalId: transactionalId(`${node}-bare`), producerId: -1n, producerEpoch: -1 } : {}),
  });
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: [bootstrap] });
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  await admin.close();
  const builders = Array.from({ length: PARTITIONS }, (_, p) => new MessageBuilder(node, p, PARTITIONS, topic, PARTITIONS));
  const positions = new Array<number>(PARTITIONS).fill(0);
  let sendNs = 0n;
  let sent = 0;
  let p = 0;
  let batches = 0;
  while (sent < RECORDS) {
    // Build one batch from the log (outside the timing), like the forwarder's batches.
    // Cut like the forwarder: at most BATCH records and batchBytes by the same size estimate.
    const records: LogRecord[] = [];
    let bytes = 0;
    for (const r of log.read('bench', p, positions[p]!, { maxRecords: BATCH, maxBytes: 64 << 20 }).records) {
      const size = upstreamSize(r, node);
      if (records.length > 0 && bytes + size > BATCH_BYTES) break;
      records.push(r);
      bytes += size;
    }
    positions[p] = records[records.length - 1]!.offset + 1;
    const messages = records.map((r) => builders[p]!.build(r));
    const started = process.hrtime.bigint();
    if (mode === 'exactly-once') {
      const tx = await producer.beginTransaction();
      await tx.send({ messages });
      await tx.commit();
    } else {
      await producer.send({ messages });
    }
    sendNs += process.hrtime.bigint() - started;
    sent += messages.length;
    batches += 1;
    p = (p + 1) % PARTITIONS;
  }
  await producer.close();
  return RECORDS / (Number(sendNs) / 1e9);
}

/** A real node forwarding a paced MQTT stream; latency from the record's timestamp to kcat. */
async function latency(bootstrap: string, dir: string, mode: 'exactly-once' | 'at-least-once'): Promise<{ p50: number; p99: number; warmupP99: number; count: number; sent: number }> {
  const node = `bench-latency-${mode === 'exactly-once' ? 'eos' : 'alo'}`;
  const dataDir = join(dir, node);
  const configFile = join(dir, `${node}.yaml`);
  writeFileSync(configFile, YAML.stringify({
    node: { id: node },
    log: { durability: 'fsync' },
    topics: [{ name: 'mqtt', partitions: PARTITIONS }],
    upstream: { enabled: true, brokers: [bootstrap], mode },
  }));
  const port = await freePort();
  const tributary = spawn(process.execPath, [CLI, 'start', '--config', configFile, '--data-dir', dataDir, '--mqtt-port', String(port), '--ws-port', '0', '--http-port', '0'], { stdio: ['ignore', process.env.BENCH_NODE_LOG === undefined ? 'ignore' : openSync(process.env.BENCH_NODE_LOG, 'w'), 'inherit'], env: { ...process.env, LOG_LEVEL: process.env.BENCH_NODE_LOG === undefined ? 'warn' : 'debug' } });
  await waitForPort(port, tributary, 'tributary');
  // Let the forwarder create its topic before the consumer subscribes from the end.
  await new Promise((r) => setTimeout(r, 3000));
  const kcat = spawn('kcat', ['-C', '-u', '-b', bootstrap, '-t', `edge.${node}.mqtt`, '-o', 'end', '-q', '-X', 'isolation.level=read_committed', '-X', 'fetch.wait.max.ms=5', '-f', '%T\n'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const latencies: number[] = [];
  const warmup: number[] = [];
  let measureFrom = Infinity;
  let measuring = false;
  createInterface({ input: kcat.stdout }).on('line', (line) => {
    if (!measuring) return;
    const stamped = Number(line);
    (stamped >= measureFrom ? latencies : warmup).push(Date.now() - stamped);
  });
  await new Promise((r) => setTimeout(r, 3000));
  measuring = true;
  measureFrom = Date.now() + WARMUP_SECONDS * 1000;
  const result = await runRawPublisher({ host: '127.0.0.1', port, connections: 4, payloadBytes: 100, rate: RATE, durationMs: (WARMUP_SECONDS + SECONDS) * 1000, window: 100 });
  await new Promise((r) => setTimeout(r, 2000));
  measuring = false;
  kcat.kill();
  tributary.kill('SIGTERM');
  await new Promise((r) => tributary.on('close', r));
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), warmupP99: percentile(warmup, 0.99), count: latencies.length + warmup.length, sent: result.acked };
}

async function main(): Promise<void> {
  const base = resolve(process.env.BENCH_DIR ?? '.bench-data');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'forward-'));
  const kafka = await startKafka();
  try {
    const log = await fillLog(join(dir, 'log'));
    const rows: Array<{ mode: string; forwarder: number; bare: number; runs: string[] }> = [];
    for (const mode of ['exactly-once', 'at-least-once'] as const) {
      const forwarderRuns: number[] = [];
      const bareRuns: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        // Alternating order, so that neither side always meets a warmer (or busier) Kafka.
        const node = `bench-r${run}`;
        if (run % 2 === 0) bareRuns.push(await bareProducer(log, kafka.bootstrap, mode, node));
        forwarderRuns.push(await forwardAll(log, kafka.bootstrap, mode, node));
        if (run % 2 === 1) bareRuns.push(await bareProducer(log, kafka.bootstrap, mode, node));
      }
      const runs = forwarderRuns.map((f, i) => `${Math.round(f / 1000)}k/${Math.round(bareRuns[i]! / 1000)}k`);
      rows.push({ mode, forwarder: median(forwarderRuns), bare: median(bareRuns), runs });
    }
    await log.close();
    const lat = await latency(kafka.bootstrap, dir, 'exactly-once');
    const latAlo = await latency(kafka.bootstrap, dir, 'at-least-once');

    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
    console.log(`\nforward ${fmt(RECORDS)} stored 100-byte records, batches of ${fmt(BATCH)}, ${PARTITIONS} partitions, one Kafka node on this machine`);
    console.log(`| mode | forwarder records/s (median of ${RUNS}) | bare producer records/s (median of ${RUNS}) | ratio | runs (forwarder/bare) |`);
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const r of rows) console.log(`| ${r.mode} | ${fmt(r.forwarder)} | ${fmt(r.bare)} | ${(r.forwarder / r.bare).toFixed(2)}x | ${r.runs.join(' · ')} |`);
    console.log(`\nMQTT publish at ${fmt(RATE)} msg/s for ${WARMUP_SECONDS} s of warm-up + ${SECONDS} s measured -> consumed from Kafka (read_committed):`);
    console.log(`  exactly-once:  p50 ${lat.p50} ms, p99 ${lat.p99} ms (warm-up p99 ${lat.warmupP99} ms; ${fmt(lat.count)} of ${fmt(lat.sent)} acknowledged)`);
    console.log(`  at-least-once: p50 ${latAlo.p50} ms, p99 ${latAlo.p99} ms (warm-up p99 ${latAlo.warmupP99} ms; ${fmt(latAlo.count)} of ${fmt(latAlo.sent)} acknowledged)`);
    const eos = rows[0]!;
    const alo = rows[1]!;
    console.log(JSON.stringify({
      bench: 'forward',
      records: RECORDS,
      runs: RUNS,
      batchRecords: BATCH,
      exactlyOnce: { forwarderPerSec: Math.round(eos.forwarder), barePerSec: Math.round(eos.bare), ratio: Number((eos.forwarder / eos.bare).toFixed(3)) },
      atLeastOnce: { forwarderPerSec: Math.round(alo.forwarder), barePerSec: Math.round(alo.bare), ratio: Number((alo.forwarder / alo.bare).toFixed(3)) },
      latency: { rate: RATE, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, p50Ms: lat.p50, p99Ms: lat.p99, warmupP99Ms: lat.warmupP99, consumed: lat.count, acked: lat.sent },
      latencyAtLeastOnce: { p50Ms: latAlo.p50, p99Ms: latAlo.p99, warmupP99Ms: latAlo.warmupP99, consumed: latAlo.count, acked: latAlo.sent },
      goals: { ratioAtLeast0_9: eos.forwarder / eos.bare >= 0.9, p99AtMost50ms: lat.p99 <= 50 },
    }));
  } finally {
    await run(KAFKA_SH, ['stop', kafka.dir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
