// The Kafka endpoint's traffic in /metrics: requests by API from a real client (kcat), a request
// that closes its connection counted by cause, bytes each way; a consumer group's members and lag.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Writer } from '../../../bridge/kafka/protocol/writer.js';
import { sample as sampleOf } from '../../helpers/metrics-text.js';
import { startTestNode } from '../../helpers/mqtt-node.js';
import { RawKafka } from '../../helpers/raw-kafka.js';

const run = promisify(execFile);

/** A series' value, 0 when it is not exposed. */
const sample = (metrics: string, series: string): number => sampleOf(metrics, series) ?? 0;

test('Kafka requests by API, failures by cause and bytes each way are in /metrics', async (t) => {
  const { node } = await startTestNode(t, { kafka: { enabled: true, port: 0 } });
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${node.http.port}/metrics`)).text();
  await run('kcat', ['-b', `127.0.0.1:${node.kafka!.port}`, '-L'], { timeout: 30_000 });

  // A frame whose header cannot be read: the connection is closed and counted as malformed.
  const socket = connect(node.kafka!.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(Buffer.from([0, 0, 0, 3, 0xff, 0xff, 0xff]));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));

  const text = await metrics();
  assert.ok(sample(text, 'tributary_kafka_requests_total{api="ApiVersions"}') >= 1, text);
  assert.ok(sample(text, 'tributary_kafka_requests_total{api="Metadata"}') >= 1);
  assert.equal(sample(text, 'tributary_kafka_request_failures_total{cause="malformed"}'), 1);
  assert.ok(sample(text, 'tributary_kafka_received_bytes_total') > 0);
  assert.ok(sample(text, 'tributary_kafka_sent_bytes_total') > 0);

  // A group that committed offset 1 of a partition holding 3 records: lag 2, no members.
  for (let i = 0; i < 3; i++) await node.log.append('mqtt', 0, [{ timestamp: Date.now(), key: null, value: Buffer.from(`r${i}`) }]);
  const kafka = await RawKafka.open(t, node.kafka!.port);
  const commit = new Writer().string('historian', false).int32(-1).string('', false).int64(-1);
  kafka.send(8, 2, Buffer.concat(commit.array(['mqtt'], false, (w, name) => w.string(name, false).array([0], false, (w, p) => w.int32(p).int64(1).string('', false))).chunks()));
  await kafka.response();
  const after = await metrics();
  assert.equal(sample(after, 'tributary_kafka_group_lag_records{group="historian",topic="mqtt",partition="0"}'), 2, after);
  assert.equal(sample(after, 'tributary_kafka_group_members{group="historian"}'), 0);
});
