// /metrics and /api/overview of a real node: real MQTT.js publishers, the real log, real HTTP.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Metrics } from '../../../bridge/observability/metrics.js';
import type { Overview } from '../../../bridge/observability/overview.js';
import { sample } from '../../helpers/metrics-text.js';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { waitFor } from '../../helpers/wait-for.js';


async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

test('/metrics counts publishes, refusals, bytes, appends, group commits, partitions and retention', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxPayload: 100 } }, topics: [{ name: 'mqtt', partitions: 2 }] });
  const port = node.http.port;
  const client = await connect(t, url, { clientId: 'meter-1' });
  const payload = Buffer.alloc(40, 'x');
  for (let i = 0; i < 30; i++) await client.publishAsync(`site/dev-${i % 5}/temp`, payload, { qos: 1 });
  let text = await scrape(port);
  assert.equal(sample(text, 'tributary_mqtt_connections'), 1);
  assert.equal(sample(text, 'tributary_mqtt_publishes_received_total'), 30);
  assert.equal(sample(text, 'tributary_mqtt_publishes_fast_path_total'), 30, 'no subscriber: all taken by the fast path');
  assert.equal(sample(text, 'tributary_mqtt_received_bytes_total'), 30 * 40);
  assert.equal(sample(text, 'tributary_mqtt_publishes_acknowledged_total{outcome="stored"}'), 30);
  assert.equal(sample(text, 'tributary_log_appended_records_total'), 30);
  assert.equal(sample(text, 'tributary_log_append_duration_seconds_count'), sample(text, 'tributary_log_appended_batches_total'));
  assert.ok(sample(text, 'tributary_log_group_commit_batches_count')! >= 1);
  assert.equal(sample(text, 'tributary_log_group_commit_batches_sum'), sample(text, 'tributary_log_appended_batches_total'), 'every appended batch was in one commit');
  const ends = [0, 1].map((p) => sample(text, `tributary_log_partition_end_offset{topic="mqtt",partition="${p}"}`)!);
  assert.equal(ends[0]! + ends[1]!, 30);
  assert.ok(sample(text, 'tributary_log_partition_bytes{topic="mqtt",partition="0"}')! > 0);
  assert.equal(sample(text, 'tributary_log_open'), 1);
  // prom-client's default metrics: memory and event-loop lag.
  assert.ok(sample(text, 'process_resident_memory_bytes')! > 0);
  assert.ok(sample(text, 'nodejs_eventloop_lag_seconds') !== undefined);

  // An oversized publish is refused (and the client disconnected): counted by reason.
  client.publish('site/dev-0/temp', Buffer.alloc(200), { qos: 1 });
  await waitFor(() => node.mqtt.stats.refused['payload too large'] === 1, 'refusal counted');
  text = await scrape(port);
  assert.equal(sample(text, 'tributary_mqtt_publishes_refused_total{reason="payload too large"}'), 1);
  assert.equal(sample(text, 'tributary_mqtt_publishes_received_total'), 31);
  assert.equal(sample(text, 'tributary_mqtt_publishes_fast_path_total'), 30, 'a refused publish is left to aedes');

  // Retention: everything is older than 7 days a month from now.
  await node.log.enforceRetention(Date.now() + 30 * 86_400_000);
  text = await scrape(port);
  assert.equal(sample(text, 'tributary_log_retention_deleted_records_total'), 30);
  assert.equal(sample(text, `tributary_log_partition_start_offset{topic="mqtt",partition="0"}`), ends[0]);
});

test('/api/overview reports the same counts and the refusal among recent errors', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxTopicLength: 20 } } });
  const client = await connect(t, url, { clientId: 'noisy' });
  await client.publishAsync('a/b', 'one', { qos: 1 });
  client.publish('a/very/long/topic/name/indeed', 'two', { qos: 1 });
  await waitFor(() => node.mqtt.stats.refused['topic too long'] === 1, 'refusal counted');
  const overview = (await (await fetch(`http://127.0.0.1:${node.http.port}/api/overview`)).json()) as Overview;
  assert.equal(overview.mqtt.publishesReceived, 2);
  assert.equal(overview.mqtt.publishesStored, 1);
  assert.equal(overview.mqtt.publishesFastPath, 1);
  assert.equal(overview.mqtt.refused, 1);
  assert.equal(overview.ready, true);
  assert.equal(overview.upstream, null);
  assert.deepEqual(overview.log.topics, node.log.topics());
  const error = overview.errors.find((e) => e.summary === 'publish refused: topic too long');
  assert.equal(error?.component, 'mqtt', JSON.stringify(overview.errors));
  assert.match(error!.detail, /client 'noisy'/);
});

test('/readyz turns 503 once the log is no longer open', async (t) => {
  const { node } = await startTestNode(t);
  const base = `http://127.0.0.1:${node.http.port}`;
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  await node.log.close();
  const res = await fetch(`${base}/readyz`);
  assert.equal(res.status, 503);
  assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the process is alive');
  assert.equal(sample(await scrape(node.http.port), 'tributary_log_open'), 0);
});

test('upstream status becomes per-partition lag, throughput and error metrics', async () => {
  const metrics = new Metrics();
  let status = {
    connected: true,
    recordsForwarded: 1200,
    bytesForwarded: 96_000,
    errors: 3,
    partitions: [
      { topic: 'mqtt', partition: 0, forwardedOffset: 1000, highWatermark: 1500, lag: 500, lastError: null as string | null },
      { topic: 'mqtt', partition: 1, forwardedOffset: 200, highWatermark: 200, lag: 0, lastError: 'NOT_LEADER_OR_FOLLOWER' },
    ],
  };
  let text = (await metrics.render()).body;
  assert.equal(sample(text, 'tributary_upstream_connected'), 0, 'off until a forwarder is watched');
  assert.equal(sample(text, 'tributary_upstream_lag_records{topic="mqtt",partition="0"}'), undefined);
  metrics.watchUpstream({ status: () => status });
  text = (await metrics.render()).body;
  assert.equal(sample(text, 'tributary_upstream_lag_records{topic="mqtt",partition="0"}'), 500);
  assert.equal(sample(text, 'tributary_upstream_forwarded_offset{topic="mqtt",partition="1"}'), 200);
  assert.equal(sample(text, 'tributary_upstream_partition_failing{topic="mqtt",partition="1"}'), 1);
  assert.equal(sample(text, 'tributary_upstream_forwarded_records_total'), 1200);
  assert.equal(sample(text, 'tributary_upstream_forwarded_bytes_total'), 96_000);
  assert.equal(sample(text, 'tributary_upstream_errors_total'), 3);
  assert.equal(sample(text, 'tributary_upstream_connected'), 1);
  status = { ...status, recordsForwarded: 1700, partitions: [{ ...status.partitions[0]!, forwardedOffset: 1500, lag: 0 }] };
  text = (await metrics.render()).body;
  assert.equal(sample(text, 'tributary_upstream_forwarded_records_total'), 1700);
  assert.equal(sample(text, 'tributary_upstream_lag_records{topic="mqtt",partition="0"}'), 0);
  assert.equal(sample(text, 'tributary_upstream_lag_records{topic="mqtt",partition="1"}'), undefined, 'a partition no longer reported disappears');
});

test('an unreachable Kafka shows in /metrics, /api/overview and the recent errors', async (t) => {
  // A port nothing listens on: connection refused, a real network failure.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const { node, url } = await startTestNode(t, { upstream: { enabled: true, brokers: [`127.0.0.1:${port}`], retryInitial: '50ms', retryMax: '200ms' } });
  const client = await connect(t, url);
  await client.publishAsync('site/a', 'one', { qos: 1 });
  // The client's own retries (8 x 200 ms per request, several requests per connect) come first:
  // ~4 s on a quiet machine, several times that under a loaded full suite.
  await waitFor(() => node.errors.list().some((e) => e.component === 'upstream'), 'an upstream error recorded', 60_000);
  const overview = (await (await fetch(`http://127.0.0.1:${node.http.port}/api/overview`)).json()) as Overview;
  assert.equal(overview.upstream?.connected, false);
  const error = overview.errors.find((e) => e.component === 'upstream')!;
  assert.match(error.summary, /^forwarding failed: TRIB_UPSTREAM_/);
  assert.match(error.detail, new RegExp(String(port)));
  const text = await scrape(node.http.port);
  assert.equal(sample(text, 'tributary_upstream_connected'), 0);
  assert.ok(sample(text, 'tributary_upstream_errors_total')! >= 1);
});
