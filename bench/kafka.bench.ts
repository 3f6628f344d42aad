// `npm run bench:kafka`: Tributary's Kafka endpoint beside Kafka's own broker (test/kafka/kafka.sh),
// measured by Kafka's own Java tools (kafka-tools) in the same run.
//  1. Fetch: the same 1M 100-byte records, one partition, read in full by ConsumerPerformance from
//     each, alternating, 3 runs each, medians. "The same": both topics are filled by the same
//     ProducerPerformance command (acks=all, idempotence, its defaults otherwise: no key, 16 KiB
//     batches), so both hold the same record and batch layout. A Java consumer has one fetch in
//     flight per partition and a response holds at most max.partition.fetch.bytes (1 MiB), so the
//     records per MiB decide the round trips: with keyed records or another batch size the two
//     would not be read under the same terms. A third series reads an MQTT-shaped log (batches of
//     1,000 keyed records, as the MQTT fast path stores a burst) from Tributary alone, compared
//     with the same Kafka figure. ConsumerPerformance joins a consumer group, so the group APIs are
//     in the path; `fetch.nMsg.sec` (without the join) is the figure compared, `nMsg.sec` (with
//     it) is printed too.
//  2. Produce: 1M 100-byte records with ProducerPerformance (acks=all, idempotence on, its
//     defaults otherwise) into each, alternating, 3 runs each, medians; Tributary with
//     `log.durability: fsync` (every acknowledgement after an fsync) and with `interval`, Kafka with
//     its defaults (it does not fsync per acknowledgement).
// Beside each fetch figure, the CPU time the serving broker's process (all its threads, user and
// kernel, from /proc) spent per MB consumed (ConsumerPerformance's data.consumed.in.MB): the figure
// to judge a change of the fetch path by on a shared machine, where records/s move with the load.
// Goals: fetch >= 1.0x Kafka's broker; produce >= 0.8x. Prints a table, then one JSON line
// ({"bench":"kafka", ...}). BENCH_QUICK=1: 200k records, 1 run each. BENCH_DIR: where data lives.
// BENCH_ONLY=fetch or produce: that half only (the other's figures are empty). BENCH_PROFILE=DIR:
// Tributary runs with --cpu-prof, one .cpuprofile per thread and process into DIR (for the
// breakdowns in docs/kafka.md; profiling slows it, so those figures are not the ones to quote).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { Log } from '../broker/log/log.js';
import { median } from './figures.js';
import { benchScratch, cpuTimes, freePort, startScriptSettings, waitForPort } from './processes.js';

const run = promisify(execFile);
const QUICK = process.env.BENCH_QUICK === '1';
const RECORDS = QUICK ? 200_000 : 1_000_000;
const RUNS = QUICK ? 1 : 3;
const ONLY = process.env.BENCH_ONLY ?? '';
const PROFILE = process.env.BENCH_PROFILE;
const TOPIC = 'bench';
const MQTT_SHAPED = 'bench-mqtt';
const KAFKA_SH = fileURLToPath(new URL('../../test/kafka/kafka.sh', import.meta.url));
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));
const LAUNCH = startScriptSettings();

async function kafkaSh(...args: string[]): Promise<string[]> {
  const { stdout } = await run(KAFKA_SH, args, { timeout: 360_000 });
  return stdout.trim().split('\n');
}

async function java(classpath: string, tool: string, ...args: string[]): Promise<string[]> {
  const { stdout } = await run('java', ['-Xshare:auto', '-cp', classpath, tool, ...args], { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim().split('\n');
}

/** 1M keyed records into a log directory's MQTT_SHAPED topic, as the MQTT fast path stores a burst: batches of 1,000. */
async function fillLog(dataDir: string): Promise<void> {
  const log = await Log.open({ dataDir, durability: 'write', topics: [{ name: MQTT_SHAPED, partitions: 1 }] });
  const value = Buffer.alloc(100, 'x');
  for (let base = 0; base < RECORDS; base += 1000) {
    const now = Date.now();
    await log.append(MQTT_SHAPED, 0, Array.from({ length: 1000 }, (_, i) => ({ timestamp: now, key: Buffer.from(`sensor-${(base + i) % 97}`), value })));
  }
  await log.close();
}

async function startTributary(dir: string, dataDir: string, durability: 'fsync' | 'interval'): Promise<{ bootstrap: string; process: ChildProcess }> {
  const [port, mqttPort] = [await freePort(), await freePort()];
  const config = join(dir, `tributary-${durability}.yaml`);
  writeFileSync(config, `log:\n  durability: ${durability}\n  retention: { maxAge: null }\ntopics:\n  - { name: ${TOPIC}, partitions: 1 }\n  - { name: ${MQTT_SHAPED}, partitions: 1 }\n  - { name: ${TOPIC}-produce, partitions: 1 }\nkafka:\n  enabled: true\n  port: ${port}\n`);
  const profile = PROFILE === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', PROFILE];
  const child = spawn(process.execPath, [...LAUNCH.nodeFlags, ...profile, CLI, 'start', '--config', config, '--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--ws-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...LAUNCH.env, ...process.env, LOG_LEVEL: 'warn' },
  });
  await waitForPort(port, child, 'tributary kafka endpoint');
  return { bootstrap: `127.0.0.1:${port}`, process: child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((done) => (child.once('exit', () => done()), child.kill('SIGTERM')));
}

/** One consumer run: its records/s, and the serving broker's CPU milliseconds per MB consumed (all, user, kernel). */
interface Consumed {
  msgsPerSec: number;
  fetchMsgsPerSec: number;
  cpuMsPerMb: number;
  userMsPerMb: number;
  systemMsPerMb: number;
}

/** ConsumerPerformance's CSV: header names to values; `brokerPid`'s CPU time over the run. */
async function consume(classpath: string, bootstrap: string, brokerPid: number, group: string, topic = TOPIC): Promise<Consumed> {
  const before = cpuTimes(brokerPid);
  const lines = await java(classpath, 'org.apache.kafka.tools.ConsumerPerformance', '--bootstrap-server', bootstrap, '--topic', topic, '--messages', String(RECORDS), '--group', group, '--timeout', '60000');
  const header = lines.findIndex((l) => l.includes('nMsg.sec'));
  const names = lines[header]!.split(',').map((s) => s.trim());
  const values = lines[header + 1]!.split(',').map((s) => s.trim());
  const field = (name: string): number => Number(values[names.indexOf(name)]);
  const after = cpuTimes(brokerPid);
  if (field('data.consumed.in.nMsg') < RECORDS) throw new Error(`${bootstrap}: consumed ${field('data.consumed.in.nMsg')} of ${RECORDS}`);
  const perMb = (seconds: number): number => Number(((seconds * 1000) / field('data.consumed.in.MB')).toFixed(2));
  const user = after.user - before.user;
  const system = after.system - before.system;
  return { msgsPerSec: Math.round(field('nMsg.sec')), fetchMsgsPerSec: Math.round(field('fetch.nMsg.sec')), cpuMsPerMb: perMb(user + system), userMsPerMb: perMb(user), systemMsPerMb: perMb(system) };
}

/** ProducerPerformance's last line: "N records sent, R records/sec (M MB/sec), ...". */
async function produce(classpath: string, bootstrap: string, topic: string): Promise<number> {
  const lines = await java(classpath, 'org.apache.kafka.tools.ProducerPerformance', '--topic', topic, '--num-records', String(RECORDS), '--record-size', '100', '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${bootstrap}`, 'acks=all', 'enable.idempotence=true');
  const last = lines.findLast((l) => l.includes('records sent'))!;
  return Math.round(Number(/([\d.]+) records\/sec/.exec(last)![1]));
}

async function main(): Promise<void> {
  const { dir, children, cleanup } = benchScratch('kafka');
  const [kafkaDir, kafkaBootstrap] = (await kafkaSh('start')).slice(-2) as [string, string];
  const kafkaPid = Number(readFileSync(join(kafkaDir, 'pid'), 'utf8'));
  try {
    const classpath = (await kafkaSh('classpath')).at(-1)!;
    // The same records in both: Tributary's log filled directly, Kafka's topic by its own producer.
    const dataDir = join(dir, 'data');
    await fillLog(dataDir);
    await java(classpath, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', kafkaBootstrap, '--create', '--topic', TOPIC, '--partitions', '1');
    await produce(classpath, kafkaBootstrap, TOPIC);

    let tributary = await startTributary(dir, dataDir, 'fsync');
    children.push(tributary.process);
    const fetch = { tributary: [] as number[], kafka: [] as number[], tributaryWithJoin: [] as number[], kafkaWithJoin: [] as number[], tributaryMqttShaped: [] as number[] };
    // The serving process's CPU ms per MB consumed, per run: all, and of it user space / kernel.
    const fetchCpu = { tributary: [] as Consumed[], kafka: [] as Consumed[], tributaryMqttShaped: [] as Consumed[] };
    if (ONLY !== 'produce') await produce(classpath, tributary.bootstrap, TOPIC); // the same records as Kafka's
    for (let i = 0; i < RUNS && ONLY !== 'produce'; i++) {
      const t = await consume(classpath, tributary.bootstrap, tributary.process.pid!, `perf-${i}`);
      const k = await consume(classpath, kafkaBootstrap, kafkaPid, `perf-${i}`);
      const m = await consume(classpath, tributary.bootstrap, tributary.process.pid!, `perf-mqtt-${i}`, MQTT_SHAPED);
      fetchCpu.tributary.push(t);
      fetchCpu.kafka.push(k);
      fetchCpu.tributaryMqttShaped.push(m);
      fetch.tributary.push(t.fetchMsgsPerSec);
      fetch.tributaryWithJoin.push(t.msgsPerSec);
      fetch.kafka.push(k.fetchMsgsPerSec);
      fetch.kafkaWithJoin.push(k.msgsPerSec);
      fetch.tributaryMqttShaped.push(m.fetchMsgsPerSec);
    }

    const producing = { fsync: [] as number[], interval: [] as number[], kafka: [] as number[] };
    for (const durability of ONLY === 'fetch' ? [] : (['fsync', 'interval'] as const)) {
      if (durability === 'interval') {
        await stop(tributary.process);
        tributary = await startTributary(dir, dataDir, 'interval');
        children.push(tributary.process);
      }
      for (let i = 0; i < RUNS && ONLY !== 'fetch'; i++) {
        producing[durability].push(await produce(classpath, tributary.bootstrap, `${TOPIC}-produce`));
        if (durability === 'fsync') producing.kafka.push(await produce(classpath, kafkaBootstrap, `${TOPIC}-produce-${i}`));
      }
    }
    await stop(tributary.process);

    const m = (values: number[]): number => Math.round(median(values));
    const fetchRatio = m(fetch.tributary) / m(fetch.kafka);
    const produceRatio = m(producing.fsync) / m(producing.kafka);
    const cpu = (runs: Consumed[], field: 'cpuMsPerMb' | 'userMsPerMb' | 'systemMsPerMb' = 'cpuMsPerMb'): number => Number(median(runs.map((r) => r[field])).toFixed(2));
    const cpuCell = (runs: Consumed[]): string => (runs.length === 0 ? '' : `${cpu(runs)} (${cpu(runs, 'userMsPerMb')} + ${cpu(runs, 'systemMsPerMb')})`);
    const cpuRatio = (runs: Consumed[]): string => (runs.length === 0 ? '' : `${(cpu(runs) / cpu(fetchCpu.kafka)).toFixed(2)}x`);
    const rows = [
      ['case', 'Tributary', 'Kafka', 'ratio', 'goal'],
      ['fetch, records/s (ConsumerPerformance fetch.nMsg.sec)', String(m(fetch.tributary)), String(m(fetch.kafka)), `${fetchRatio.toFixed(2)}x`, '>= 1.0x'],
      ['fetch, MQTT-shaped log (batches of 1,000 keyed records), records/s', String(m(fetch.tributaryMqttShaped)), String(m(fetch.kafka)), `${(m(fetch.tributaryMqttShaped) / m(fetch.kafka)).toFixed(2)}x`, ''],
      ['fetch, broker CPU ms per MB consumed (user + kernel)', cpuCell(fetchCpu.tributary), cpuCell(fetchCpu.kafka), cpuRatio(fetchCpu.tributary), 'lower is better'],
      ['fetch, MQTT-shaped log, broker CPU ms per MB consumed', cpuCell(fetchCpu.tributaryMqttShaped), cpuCell(fetchCpu.kafka), cpuRatio(fetchCpu.tributaryMqttShaped), ''],
      ['fetch incl. group join, records/s (nMsg.sec)', String(m(fetch.tributaryWithJoin)), String(m(fetch.kafkaWithJoin)), `${(m(fetch.tributaryWithJoin) / m(fetch.kafkaWithJoin)).toFixed(2)}x`, ''],
      ['produce acks=all, durability fsync, records/s', String(m(producing.fsync)), String(m(producing.kafka)), `${produceRatio.toFixed(2)}x`, '>= 0.8x'],
      ['produce acks=all, durability interval, records/s', String(m(producing.interval)), String(m(producing.kafka)), `${(m(producing.interval) / m(producing.kafka)).toFixed(2)}x`, ''],
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`Kafka endpoint vs Kafka's broker: ${RECORDS} records of 100 bytes, one partition, ${RUNS} run(s) each, medians; Kafka's Java tools`);
    for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    const fetchCpuMsPerMb = Object.fromEntries(Object.entries(fetchCpu).map(([name, runs]) => [name, runs.map((r) => r.cpuMsPerMb)]));
    console.log(JSON.stringify({ bench: 'kafka', records: RECORDS, runs: RUNS, fetch, fetchCpuMsPerMb, produce: producing, fetchRatio: Number(fetchRatio.toFixed(3)), produceRatio: Number(produceRatio.toFixed(3)), goals: { fetchAtLeast1: fetchRatio >= 1, produceAtLeast0_8: produceRatio >= 0.8 } }));
  } finally {
    cleanup();
    await kafkaSh('stop', kafkaDir).catch(() => undefined);
  }
}

await main();
