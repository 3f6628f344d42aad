// Records produced over the Kafka endpoint travel like MQTT-born ones: an idempotent
// @platformatic/kafka Producer and kcat -P write into a node whose forwarder sends its log to a
// real Kafka (test/kafka/kafka.sh); each record arrives upstream exactly once with its key and
// value, and `tributary replay` reads them from the node.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { onCleanup } from '../helpers/cleanup.js';
import { runCliAsync } from '../helpers/cli.js';
import { startKafka } from '../helpers/kafka.js';
import { startTestNode } from '../helpers/mqtt-node.js';
import { caughtUp, readUpstream, waitForStatus } from '../helpers/upstream.js';

const run = promisify(execFile);

test('produced over Kafka -> log -> upstream Kafka exactly once, and replayed by tributary replay', async (t) => {
  const kafka = await startKafka(t);
  const { node } = await startTestNode(t, {
    node: { id: 'gw-produce' },
    topics: [{ name: 'produced', partitions: 2 }],
    kafka: { enabled: true, port: 0 },
    upstream: { enabled: true, brokers: [kafka.bootstrap], retryInitial: 100, retryMax: 1000, requestTimeout: 5000 },
  });
  const bootstrap = `127.0.0.1:${node.kafka!.port}`;
  const producer = new Producer({ clientId: 'edge-app', bootstrapBrokers: [bootstrap], serializers: stringSerializers, idempotent: true });
  onCleanup(t, () => producer.close());
  const sent: Array<[string, string]> = [];
  for (let batch = 0; batch < 10; batch++) {
    const messages = Array.from({ length: 10 }, (_, i) => ({ topic: 'produced', key: `machine-${i % 4}`, value: `reading-${batch * 10 + i}` }));
    await producer.send({ messages });
    sent.push(...messages.map((m): [string, string] => [m.key, m.value]));
  }
  const { stdout: none } = await run('sh', ['-c', `printf 'kcat-key:kcat-value\\n' | kcat -b ${bootstrap} -P -t produced -p 1 -K:`], { timeout: 60_000 });
  assert.equal(none, '');
  sent.push(['kcat-key', 'kcat-value']);

  await waitForStatus(() => node.upstream!.status(), caughtUp(sent.length), `all ${sent.length} forwarded`);
  const upstream = await readUpstream(kafka.bootstrap, 'edge.gw-produce.produced');
  assert.deepEqual(upstream.map((r) => [r.key, r.value]).sort(), [...sent].sort(), 'each produced record once upstream');
  for (const partition of [0, 1]) {
    const stored = node.log.read('produced', partition, 0, { maxRecords: 1000 }).records;
    assert.deepEqual(upstream.filter((r) => r.partition === partition).map((r) => r.value), stored.map((r) => r.value!.toString()), `partition ${partition} mirrored in order`);
  }

  const replay = await runCliAsync(['replay', '--url', `http://127.0.0.1:${node.http.port}`, '--topic', 'produced']);
  assert.equal(replay.status, 0, replay.stderr);
  const replayed = replay.stdout.trim().split('\n').map((line) => JSON.parse(line) as { key: string; value: string });
  assert.deepEqual(replayed.map((r) => [r.key, r.value]).sort(), [...sent].sort());
});
