// Real Kafka clients against the Kafka endpoint of a whole node (kafka.enabled), reading records
// that were published over MQTT: kcat (librdkafka) and the Java tools of the Kafka distribution
// (kafka-tools, provisioned by test/kafka/kafka.sh) as processes, and @platformatic/kafka's
// Consumer in this process. Key, value, timestamp and the MQTT headers must come through.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { Consumer } from '@platformatic/kafka';
import type { Log } from '../../broker/log/log.js';
import { connect, startTestNode } from '../helpers/mqtt-node.js';
import { onCleanup } from '../helpers/cleanup.js';
import { kafkaToolsClasspath, runKafkaTool } from '../helpers/kafka.js';

const run = promisify(execFile);

/** A node with the Kafka endpoint on, and `count` records published over MQTT (QoS 1, so each is in the log once acknowledged). */
async function nodeWithRecords(t: TestContext, count: number): Promise<{ port: number; published: Array<{ topic: string; payload: string }>; log: Log }> {
  const { node, url } = await startTestNode(t, { kafka: { enabled: true, port: 0 } });
  assert.ok(node.kafka !== null, 'the Kafka endpoint started');
  const client = await connect(t, url, { clientId: 'kafka-clients-test' });
  const published = Array.from({ length: count }, (_, i) => ({ topic: `sensors/line-${i}`, payload: `reading ${i}` }));
  for (const p of published) await client.publishAsync(p.topic, p.payload, { qos: 1 });
  return { port: node.kafka.port, published, log: node.log };
}

async function kcat(port: number, ...args: string[]): Promise<string[]> {
  try {
    const { stdout } = await run('kcat', ['-b', `127.0.0.1:${port}`, ...args], { timeout: 60_000 });
    return stdout.split('\n').filter((line) => line !== '');
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') assert.fail('kcat is not installed (Debian package kcat)');
    throw new Error(`kcat ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

test('kcat lists the node as the one broker, reads from the beginning, from the end and from a time', async (t) => {
  const { port, published } = await nodeWithRecords(t, 3);

  const metadata = JSON.parse((await kcat(port, '-L', '-J')).join('')) as {
    brokers: Array<{ id: number; name: string }>;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; leader: number }> }>;
  };
  assert.deepEqual(metadata.brokers, [{ id: 0, name: `127.0.0.1:${port}` }]);
  assert.deepEqual(metadata.topics.map((tp) => ({ topic: tp.topic, partitions: tp.partitions.map((p) => [p.partition, p.leader]) })), [{ topic: 'mqtt', partitions: [[0, 0]] }]);

  const format = ['-f', '%o\t%k\t%s\t%T\t%h\n'];
  const all = (await kcat(port, '-C', '-t', 'mqtt', '-e', '-o', 'beginning', ...format)).map((line) => line.split('\t'));
  assert.deepEqual(all.map(([offset, key, value]) => [offset, key, value]), published.map((p, i) => [String(i), p.topic, p.payload]));
  for (const [i, line] of all.entries()) {
    assert.match(line[4]!, new RegExp(`(^|,)mqtt\\.topic=sensors/line-${i}(,|$)`), 'the MQTT headers come through');
    assert.match(line[4]!, /(^|,)mqtt\.qos=1(,|$)/);
  }

  const last = await kcat(port, '-C', '-t', 'mqtt', '-e', '-o', '-1', '-f', '%o %s\n');
  assert.deepEqual(last, ['2 reading 2']);

  // By time (ListOffsets with a timestamp): the first record at or after the second one's time.
  const timestamps = all.map((line) => Number(line[3]));
  const from = timestamps.findIndex((ts) => ts >= timestamps[1]!);
  const since = await kcat(port, '-C', '-t', 'mqtt', '-e', '-o', `s@${timestamps[1]}`, '-f', '%o\n');
  assert.deepEqual(since, Array.from({ length: 3 - from }, (_, i) => String(from + i)));
});

test("@platformatic/kafka's Consumer reads the stored log: metadata, offsets by position and time, fetch by topic id", async (t) => {
  const { port, published } = await nodeWithRecords(t, 4);
  const consumer = new Consumer({ groupId: 'unused', clientId: 'platformatic-test', bootstrapBrokers: [`127.0.0.1:${port}`], retries: 0 });
  onCleanup(t, () => consumer.close(true));

  const metadata = await consumer.metadata({ topics: ['mqtt'] });
  assert.deepEqual([...metadata.brokers.entries()], [[0, { host: '127.0.0.1', port, rack: null }]]);
  const topic = metadata.topics.get('mqtt')!;
  assert.equal(topic.partitionsCount, 1);
  assert.notEqual(topic.id, '00000000-0000-0000-0000-000000000000');

  assert.deepEqual(await consumer.listOffsets({ topics: ['mqtt'], timestamp: -2n }), new Map([['mqtt', [0n]]]));
  assert.deepEqual(await consumer.listOffsets({ topics: ['mqtt'] }), new Map([['mqtt', [4n]]]));
  const future = BigInt(Date.now() + 3_600_000);
  assert.deepEqual(await consumer.listOffsets({ topics: ['mqtt'], timestamp: future }), new Map([['mqtt', [-1n]]]), 'nothing at or after a future time');

  const response = await consumer.fetch({
    node: 0,
    topics: [{ topicId: topic.id, partitions: [{ partition: 0, fetchOffset: 1n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }],
    maxWaitTime: 0,
  });
  const partition = response.responses[0]!.partitions[0]!;
  assert.equal(partition.errorCode, 0);
  assert.equal(partition.highWatermark, 4n);
  const records = (partition.records ?? []).flatMap((batch) =>
    batch.records.map((r) => ({
      offset: batch.firstOffset + BigInt(r.offsetDelta),
      key: r.key?.toString(),
      value: r.value?.toString(),
      topicHeader: r.headers.find(([name]) => name?.toString() === 'mqtt.topic')?.[1]?.toString(),
    })),
  );
  // The batch holding offset 1 is served whole, as Kafka does: the client skips what it did not ask for.
  assert.deepEqual(
    records.filter((r) => r.offset >= 1n),
    published.slice(1).map((p, i) => ({ offset: BigInt(i + 1), key: p.topic, value: p.payload, topicHeader: p.topic })),
  );
});


test("the Java client (Kafka's ConsoleConsumer and GetOffsetShell) reads from the beginning and lists the offsets", async (t) => {
  const classpath = await kafkaToolsClasspath();
  const { port, published, log } = await nodeWithRecords(t, 3);
  const bootstrap = `127.0.0.1:${port}`;
  // Assigned partition and explicit position: no consumer group (the next slice) is needed.
  const lines = await runKafkaTool(classpath, 'org.apache.kafka.tools.consumer.ConsoleConsumer', '--bootstrap-server', bootstrap, '--topic', 'mqtt', '--partition', '0', '--offset', 'earliest', '--max-messages', '3',
    '--property', 'print.offset=true', '--property', 'print.key=true', '--property', 'print.headers=true');
  assert.deepEqual(
    lines.map((line) => {
      const [offset, headers, key, value] = line.split('\t');
      return { offset, topicHeader: /(?:^|,)mqtt\.topic:([^,]*)/.exec(headers!)?.[1], key, value };
    }),
    published.map((p, i) => ({ offset: `Offset:${i}`, topicHeader: p.topic, key: p.topic, value: p.payload })),
  );
  assert.deepEqual(await runKafkaTool(classpath, 'org.apache.kafka.tools.GetOffsetShell', '--bootstrap-server', bootstrap, '--topic', 'mqtt', '--time', '-2'), ['mqtt:0:0']);
  assert.deepEqual(await runKafkaTool(classpath, 'org.apache.kafka.tools.GetOffsetShell', '--bootstrap-server', bootstrap, '--topic', 'mqtt', '--time', '-1'), ['mqtt:0:3']);
  // -3, the record with the largest timestamp (ListOffsets v7, KIP-734): the first one holding it.
  const timestamps = log.read('mqtt', 0, 0).records.map((r) => r.timestamp);
  const newest = timestamps.indexOf(Math.max(...timestamps));
  assert.deepEqual(await runKafkaTool(classpath, 'org.apache.kafka.tools.GetOffsetShell', '--bootstrap-server', bootstrap, '--topic', 'mqtt', '--time', '-3'), [`mqtt:0:${newest}`]);
});
