// Real Kafka producers into the Kafka endpoint of a whole node (kafka.enabled): kcat -P
// (librdkafka, read back with kcat -C), Kafka's Java ConsoleProducer with its default
// enable.idempotence=true (kafka-tools, provisioned by test/kafka/kafka.sh), and @platformatic/kafka's
// Producer, plain and idempotent. What they wrote must read back through the log, Fetch and the
// HTTP NDJSON replay like MQTT-born records; the idempotent ones carry their producer id.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { readBatchHeader } from '../../broker/log/record-batch.js';
import { onCleanup } from '../helpers/cleanup.js';
import { runCliAsync } from '../helpers/cli.js';
import { kafkaToolsClasspath, runKafkaTool } from '../helpers/kafka.js';
import { startTestNode, type TestNode } from '../helpers/mqtt-node.js';

const run = promisify(execFile);

async function kafkaNode(t: TestContext): Promise<{ n: TestNode; bootstrap: string }> {
  const n = await startTestNode(t, { kafka: { enabled: true, port: 0 }, topics: [{ name: 'mqtt', partitions: 1 }, { name: 'produced', partitions: 2 }] });
  assert.ok(n.node.kafka !== null);
  return { n, bootstrap: `127.0.0.1:${n.node.kafka.port}` };
}

/** Runs a command with `input` on its stdin; its stdout lines. */
function runWithInput(command: string, args: string[], input: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout.split('\n').filter((line) => line !== ''));
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr}`));
    });
    child.stdin.end(input);
  });
}

/** Every stored batch header of a partition: [base offset, producer id, records]. */
function batches(n: TestNode, topic: string, partition: number): Array<[number, number, number]> {
  return n.node.log.readBatches(topic, partition, 0, 1 << 30).map((b) => {
    const h = readBatchHeader(b.bytes, true);
    return [b.baseOffset, h.producerId, h.recordCount];
  });
}

test('kcat -P writes keyed records with headers; kcat -C and the HTTP NDJSON replay read them back', async (t) => {
  const { n, bootstrap } = await kafkaNode(t);
  const lines = ['k1:first', 'k2:second', 'k3:third'];
  await runWithInput('kcat', ['-b', bootstrap, '-P', '-t', 'produced', '-p', '1', '-K:', '-H', 'site=plant-7', '-X', 'enable.idempotence=true'], lines.join('\n') + '\n');

  const stored = n.node.log.read('produced', 1, 0).records;
  assert.deepEqual(stored.map((r) => [r.offset, r.key?.toString(), r.value?.toString(), r.headers.map(([k, v]) => `${k}=${v?.toString()}`).join(',')]), [
    [0, 'k1', 'first', 'site=plant-7'],
    [1, 'k2', 'second', 'site=plant-7'],
    [2, 'k3', 'third', 'site=plant-7'],
  ]);
  assert.ok(batches(n, 'produced', 1).every(([, producerId]) => producerId >= 0), 'librdkafka produced idempotently with an id from InitProducerId');

  const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', 'produced', '-p', '1', '-e', '-o', 'beginning', '-f', '%o %k %s %h\n'], { timeout: 60_000 });
  assert.deepEqual(stdout.trim().split('\n'), ['0 k1 first site=plant-7', '1 k2 second site=plant-7', '2 k3 third site=plant-7']);

  // librdkafka's defaults (not idempotent, acks=-1): stored as plain batches.
  await runWithInput('kcat', ['-b', bootstrap, '-P', '-t', 'produced', '-p', '0'], 'plain-1\nplain-2\n');
  assert.deepEqual(n.node.log.read('produced', 0, 0).records.map((r) => r.value?.toString()), ['plain-1', 'plain-2']);
  assert.ok(batches(n, 'produced', 0).every(([, producerId]) => producerId === -1));

  const res = await fetch(`http://127.0.0.1:${n.node.http.port}/api/topics/produced/records?partition=1`);
  const ndjson = (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as { offset: number; key: string; value: unknown; headers: unknown });
  assert.deepEqual(ndjson.map((r) => [r.offset, r.key, r.value, r.headers]), [
    [0, 'k1', 'first', [['site', 'plant-7']]],
    [1, 'k2', 'second', [['site', 'plant-7']]],
    [2, 'k3', 'third', [['site', 'plant-7']]],
  ]);
});

test("Kafka's Java ConsoleProducer, idempotent with acks=all by default, writes every line once", async (t) => {
  const classpath = await kafkaToolsClasspath();
  const { n, bootstrap } = await kafkaNode(t);
  const input = Array.from({ length: 50 }, (_, i) => `key-${i % 5}\tvalue-${i}`).join('\n') + '\n';
  await runWithInput('java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'org.apache.kafka.tools.ConsoleProducer', '--bootstrap-server', bootstrap, '--topic', 'produced',
    '--property', 'parse.key=true', '--property', 'key.separator=\t'], input);
  const records = [0, 1].flatMap((p) => n.node.log.read('produced', p, 0, { maxRecords: 1000 }).records);
  assert.deepEqual(records.map((r) => r.value?.toString()).sort(), Array.from({ length: 50 }, (_, i) => `value-${i}`).sort(), 'each line once');
  for (const r of records) assert.equal(Number(r.key!.toString().slice(4)) % 5, Number(r.value!.toString().slice(6)) % 5);
  const producers = new Set([0, 1].flatMap((p) => batches(n, 'produced', p).map(([, producerId]) => producerId)));
  assert.equal(producers.size, 1);
  assert.ok([...producers][0]! >= 0, 'the batches carry the producer id InitProducerId gave');
});

test("@platformatic/kafka's Producer writes plain and idempotent batches; the answers carry the offsets stored", async (t) => {
  const { n, bootstrap } = await kafkaNode(t);
  for (const idempotent of [false, true]) {
    const producer = new Producer({ clientId: `platformatic-${idempotent}`, bootstrapBrokers: [bootstrap], serializers: stringSerializers, idempotent, retries: 2 });
    onCleanup(t, () => producer.close());
    for (let round = 0; round < 3; round++) {
      const result = await producer.send({ messages: [0, 1, 2].map((i) => ({ topic: 'produced', partition: 0, key: `k${i}`, value: `${idempotent ? 'idem' : 'plain'}-${round}-${i}`, headers: new Map([['round', String(round)]]) })) });
      assert.deepEqual(result.offsets, [{ topic: 'produced', partition: 0, offset: BigInt((idempotent ? 9 : 0) + round * 3) }]);
    }
  }
  const records = n.node.log.read('produced', 0, 0).records;
  assert.deepEqual(records.map((r) => r.value?.toString()), ['plain', 'idem'].flatMap((kind) => [0, 1, 2].flatMap((round) => [0, 1, 2].map((i) => `${kind}-${round}-${i}`))));
  assert.deepEqual(records[10]!.headers.map(([k, v]) => [k, v?.toString()]), [['round', '0']]);
  const producerIds = batches(n, 'produced', 0).map(([, producerId]) => producerId);
  assert.deepEqual(producerIds.slice(0, 3), [-1, -1, -1], 'plain batches carry no producer id');
  assert.ok(producerIds.slice(3).every((id) => id >= 0), 'idempotent ones do');
});

test('compressed batches from kcat -z (gzip, snappy, lz4, zstd), the Java producer (compression.type) and @platformatic/kafka (compression) are stored uncompressed and read back by kcat -C, the HTTP replay and tributary replay', async (t) => {
  const classpath = await kafkaToolsClasspath();
  const { n, bootstrap } = await kafkaNode(t);
  const codecs = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
  const expected: string[] = [];
  for (const codec of codecs) {
    const lines = [0, 1, 2].map((i) => `kcat-${codec}-k${i}:${`kcat ${codec} value ${i} `.repeat(20)}`);
    await runWithInput('kcat', ['-b', bootstrap, '-P', '-t', 'produced', '-p', '0', '-K:', '-H', `codec=${codec}`, '-z', codec, '-X', 'enable.idempotence=true'], lines.join('\n') + '\n');
    expected.push(...lines.map((l) => `${l.replace(':', ' ')} codec=${codec}`));
  }
  for (const codec of codecs) {
    const input = [0, 1, 2].map((i) => `java-${codec}-k${i}\t${`java ${codec} value ${i} `.repeat(20)}`).join('\n') + '\n';
    await runWithInput('java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'org.apache.kafka.tools.ConsoleProducer', '--bootstrap-server', bootstrap, '--topic', 'produced',
      '--property', 'parse.key=true', '--property', 'key.separator=\t', '--property', 'parse.headers=false', '--producer-property', `compression.type=${codec}`, '--producer-property', 'partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner'], input);
  }
  // @platformatic/kafka compresses zstd with node:zlib, which Node 20 lacks: gzip, snappy and lz4 here.
  for (const codec of ['gzip', 'snappy', 'lz4'] as const) {
    const producer = new Producer({ clientId: `platformatic-${codec}`, bootstrapBrokers: [bootstrap], serializers: stringSerializers, idempotent: true, compression: codec });
    onCleanup(t, () => producer.close());
    await producer.send({ messages: [0, 1, 2].map((i) => ({ topic: 'produced', partition: 1, key: `pk-${codec}-${i}`, value: `platformatic ${codec} ${i} `.repeat(20), headers: new Map([['codec', codec]]) })) });
  }

  // Every stored batch is uncompressed; kcat's carry its producer id.
  for (const p of [0, 1]) {
    for (const b of n.node.log.readBatches('produced', p, 0, 1 << 30)) assert.equal(readBatchHeader(b.bytes, true).attributes & 7, 0, `partition ${p} offset ${b.baseOffset}`);
  }
  const all = [0, 1].flatMap((p) => n.node.log.read('produced', p, 0, { maxRecords: 1000 }).records);
  const javaValues = all.map((r) => r.value!.toString()).filter((v) => v.startsWith('java '));
  assert.deepEqual(javaValues.sort(), codecs.flatMap((codec) => [0, 1, 2].map((i) => `java ${codec} value ${i} `.repeat(20))).sort(), 'the Java producer: every line once, each codec');
  const platformatic = n.node.log.read('produced', 1, 0, { maxRecords: 1000 }).records.filter((r) => r.key!.toString().startsWith('pk-'));
  assert.deepEqual(platformatic.map((r) => [r.key!.toString(), r.value!.toString(), r.headers.map(([k, v]) => `${k}=${v?.toString()}`).join()]),
    ['gzip', 'snappy', 'lz4'].flatMap((codec) => [0, 1, 2].map((i) => [`pk-${codec}-${i}`, `platformatic ${codec} ${i} `.repeat(20), `codec=${codec}`])));

  // kcat -C reads kcat's records back over Fetch with keys and headers.
  const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', 'produced', '-p', '0', '-e', '-o', 'beginning', '-f', '%k %s %h\n'], { timeout: 60_000, maxBuffer: 1 << 24 });
  assert.deepEqual(stdout.split('\n').filter((l) => l.startsWith('kcat-')), expected);

  // The HTTP NDJSON replay and `tributary replay` decode them like any record.
  const res = await fetch(`http://127.0.0.1:${n.node.http.port}/api/topics/produced/records?partition=0`);
  const ndjson = (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as { key: string; value: string; headers: Array<[string, string]> });
  assert.deepEqual(ndjson.filter((r) => r.key.startsWith('kcat-')).map((r) => `${r.key} ${r.value} ${r.headers.map(([k, v]) => `${k}=${v}`).join()}`), expected);
  const replay = await runCliAsync(['replay', '--topic', 'produced', '--partition', '0', '--url', `http://127.0.0.1:${n.node.http.port}`]);
  assert.equal(replay.status, 0, replay.stderr);
  const replayed = replay.stdout.trim().split('\n').map((line) => JSON.parse(line) as { key: string; value: string });
  assert.deepEqual(replayed.filter((r) => r.key.startsWith('kcat-')).map((r) => `${r.key} ${r.value}`), expected.map((e) => e.replace(/ codec=\w+$/, '')));
});

test("Kafka's Java ProducerPerformance (acks=all, idempotent, 5 requests in flight on one connection): its requests are served pipelined, every record stored once, in sequence order", async (t) => {
  const classpath = await kafkaToolsClasspath();
  const { n, bootstrap } = await kafkaNode(t);
  const records = 20_000;
  // Small batches, no linger: many Produce requests, up to 5 of them in flight at once.
  await runKafkaTool(classpath, 'org.apache.kafka.tools.ProducerPerformance', '--topic', 'produced', '--num-records', String(records), '--record-size', '100', '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${bootstrap}`, 'acks=all', 'enable.idempotence=true', 'max.in.flight.requests.per.connection=5', 'batch.size=2048', 'linger.ms=0', 'partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner');
  let stored = 0;
  for (const partition of [0, 1]) {
    let sequence = 0;
    let producerId: number | null = null;
    for (const batch of n.node.log.readBatches('produced', partition, 0, 1 << 30)) {
      const h = readBatchHeader(batch.bytes, true);
      producerId ??= h.producerId;
      assert.deepEqual([h.producerId, h.baseSequence], [producerId, sequence], `partition ${partition} at offset ${batch.baseOffset}: the producer's next sequence, once`);
      sequence += h.recordCount;
    }
    assert.ok(producerId !== null && producerId >= 0);
    stored += sequence;
  }
  assert.equal(stored, records, 'every record once');
  assert.ok(n.node.kafka!.traffic.pipelinedRequests > 0, 'Produce requests were started while earlier ones of the connection waited for their commit');
});
