// The forwarder against a real Kafka (one node for the whole file): MQTT publish -> log -> Kafka,
// read back by an independent client (kcat, read_committed). Kafka killed mid-stream; at-least-once
// mode; an unreachable cluster; a second gateway with the same node.id.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Admin, ConfigResourceTypes, Consumer, Producer } from '@platformatic/kafka';
import type { MqttClient } from 'mqtt';
import { Log } from '../../broker/log/log.js';
import type { ConfigInput } from '../../bridge/config/schema.js';
import { readCommitted } from '../../bridge/upstream/committed-reader.js';
import { hasKafkaError } from '../../bridge/upstream/kafka-errors.js';
import { UpstreamTopics } from '../../bridge/upstream/upstream-topics.js';
import { startKafka, type KafkaNode } from '../helpers/kafka.js';
import { connect, startTestNode, type TestNode } from '../helpers/mqtt-node.js';
import { tempDir } from '../helpers/temp-dir.js';
import { caughtUp, readUpstream, waitForStatus, type UpstreamRecord } from '../helpers/upstream.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

let kafka: KafkaNode;
const cleanups: Array<() => Promise<void>> = [];

function settings(node: string, upstream: NonNullable<ConfigInput['upstream']> = {}): ConfigInput {
  return {
    node: { id: node },
    topics: [{ name: 'telemetry', partitions: 2 }],
    mqtt: { mapping: { rules: [{ filter: '#', topic: 'telemetry', key: '{mqtt.topic}' }] } },
    upstream: { enabled: true, brokers: [kafka.bootstrap], retryInitial: 100, retryMax: 1000, requestTimeout: 5000, ...upstream },
  };
}

async function publish(client: MqttClient, count: number, prefix: string): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => client.publishAsync(`line-${i % 5}/temp`, `${prefix}-${i}`, { qos: 1 })));
}

/** Asserts that `records` hold each stored record of the log exactly once, in log order per partition. */
function assertExactMirror(log: Log, node: string, records: UpstreamRecord[]): void {
  for (const partition of [0, 1]) {
    const upstream = records.filter((r) => r.partition === partition);
    const stored = log.read('telemetry', partition, 0, { maxRecords: 1_000_000, maxBytes: 1 << 30 }).records;
    assert.deepEqual(
      upstream.map((r) => Number(r.headers['tributary.offset'])),
      stored.map((r) => r.offset),
      `partition ${partition}: every log offset once, in order`,
    );
    assert.deepEqual(upstream.map((r) => r.value), stored.map((r) => r.value!.toString()));
    assert.deepEqual(upstream.map((r) => r.key), stored.map((r) => r.key!.toString()));
    for (const r of upstream) {
      assert.equal(r.headers['tributary.node'], node);
      assert.equal(r.headers['tributary.partition'], String(partition));
    }
  }
}

describe('upstream forwarder with a real Kafka', () => {
  before(async () => {
    kafka = await startKafka({ after: (fn: () => Promise<void>) => void cleanups.push(fn) });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test('MQTT publish -> log -> Kafka: every record once, same key and value, source headers, 1:1 partitions; GET /api/upstream', async (t: TestContext) => {
    const node = await startTestNode(t, settings('gw-e2e'));
    const client = await connect(t, node.url);
    await publish(client, 300, 'e2e');
    await waitForStatus(() => node.node.upstream!.status(), caughtUp(300), 'all 300 forwarded');

    const records = await readUpstream(kafka.bootstrap, 'edge.gw-e2e.telemetry');
    assert.equal(records.length, 300);
    assertExactMirror(node.node.log, 'gw-e2e', records);

    const response = await fetch(`http://127.0.0.1:${node.node.http.port}/api/upstream`);
    const body = (await response.json()) as { enabled: boolean; mode: string; state: string; partitions: Array<{ partition: number; forwardedOffset: number; logEndOffset: number; highWatermark: number; highWaterMark: number; lag: number; state: string }> };
    assert.equal(body.enabled, true);
    assert.equal(body.mode, 'exactly-once');
    assert.equal(body.state, 'forwarding');
    assert.deepEqual(
      body.partitions.map((p) => [p.partition, p.lag, p.forwardedOffset === p.highWaterMark, p.state]),
      [[0, 0, true, 'caught-up'], [1, 0, true, 'caught-up']],
    );
    assert.equal(body.partitions.reduce((n, p) => n + p.forwardedOffset, 0), 300);
    // Both ends by their names; the old `highWaterMark` stays as an alias of the log end offset.
    assert.deepEqual(body.partitions.map((p) => [p.logEndOffset === p.forwardedOffset, p.highWatermark === p.logEndOffset, p.highWaterMark === p.logEndOffset]), [[true, true, true], [true, true, true]]);

    const metrics = await (await fetch(`http://127.0.0.1:${node.node.http.port}/metrics`)).text();
    assert.match(metrics, /^tributary_upstream_forwarded_records_total 300$/m);
    assert.match(metrics, /^tributary_upstream_lag_records\{topic="telemetry",partition="0"\} 0$/m);
    assert.match(metrics, /^tributary_upstream_connected 1$/m);

    // Caught up, the forwarder waits for the high watermark to move (Log.waitFor) instead of
    // looking at the log every upstream.linger (5 ms: dozens of looks in this pause before)...
    const log = node.node.log;
    const topics = log.topics.bind(log);
    let looks = 0;
    log.topics = () => {
      looks += 1;
      return topics();
    };
    await new Promise((resolve) => setTimeout(resolve, 300));
    log.topics = topics;
    assert.equal(looks, 0, 'an idle forwarder does not poll the log');
    // ...and the next records wake it.
    await publish(client, 5, 'after-idle');
    await waitForStatus(() => node.node.upstream!.status(), caughtUp(305), 'the records after the idle wait forwarded');
  });

  test('a second gateway with the same node.id and its own log stops forwarding with TRIB_UPSTREAM_CURSOR_CONFLICT; its ingest goes on', async (t) => {
    const impostor = await startTestNode(t, settings('gw-e2e'));
    const status = await waitForStatus(() => impostor.node.upstream!.status(), (s) => s.state === 'stopped', 'stopped on the conflict');
    assert.equal(status.lastError?.code, 'TRIB_UPSTREAM_CURSOR_CONFLICT');
    assert.match(status.lastError!.message, /written by another log/);
    const client = await connect(t, impostor.url);
    await publish(client, 10, 'still-stored');
    assert.equal(impostor.node.log.partition('telemetry', 0).logEndOffset + impostor.node.log.partition('telemetry', 1).logEndOffset, 10);
  });

  test('Kafka killed mid-stream and restarted: ingest goes on, then 0 lost, 0 duplicated, order kept per partition', async (t) => {
    const node = await startTestNode(t, settings('gw-outage', { batchRecords: 50 }));
    const status = (): ReturnType<NonNullable<TestNode['node']['upstream']>['status']> => node.node.upstream!.status();
    const client = await connect(t, node.url);
    let acked = 0;
    let stopped = false;
    const pump = (async () => {
      for (let round = 0; !stopped; round++) {
        await publish(client, 20, `r${round}`);
        acked += 20;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await waitForStatus(status, (s) => s.counters.recordsForwarded >= 200, 'forwarding under way');
    await kafka.kill();
    const ackedAtKill = acked;
    const down = await waitForStatus(status, (s) => s.state === 'retrying' && s.counters.errors >= 2, 'retrying while Kafka is down');
    assert.equal(down.lastError?.code, 'TRIB_UPSTREAM_UNAVAILABLE');
    await waitForStatus(status, () => acked >= ackedAtKill + 400, 'publishes acknowledged while Kafka is down');
    assert.ok(status().totalLag > 0, 'records wait in the log');
    await kafka.restart();
    await waitForStatus(status, (s) => s.state === 'forwarding', 'reconnected');
    stopped = true;
    await pump;
    const stored = node.node.log.partition('telemetry', 0).logEndOffset + node.node.log.partition('telemetry', 1).logEndOffset;
    assert.equal(stored, acked);
    await waitForStatus(status, caughtUp(stored), 'caught up after the outage');

    const records = await readUpstream(kafka.bootstrap, 'edge.gw-outage.telemetry');
    assert.equal(records.length, stored);
    assertExactMirror(node.node.log, 'gw-outage', records);
  });

  test('at-least-once mode (gzip): idempotent producer and a local cursor; a restart resumes after what was forwarded', async (t) => {
    const first = await startTestNode(t, settings('gw-alo', { mode: 'at-least-once', compression: 'gzip' }));
    await publish(await connect(t, first.url), 100, 'first');
    await waitForStatus(() => first.node.upstream!.status(), caughtUp(100), 'first 100 forwarded');
    assert.equal(first.node.upstream!.status().mode, 'at-least-once');
    await first.close();

    const second = await startTestNode(t, settings('gw-alo', { mode: 'at-least-once', compression: 'snappy' }), first.dataDir);
    await publish(await connect(t, second.url), 50, 'second');
    await waitForStatus(() => second.node.upstream!.status(), caughtUp(150), 'all 150 forwarded');
    const records = await readUpstream(kafka.bootstrap, 'edge.gw-alo.telemetry');
    assert.equal(records.length, 150);
    assertExactMirror(second.node.log, 'gw-alo', records);
  });

  test('records retention deleted before they were forwarded are counted and skipped; the rest is forwarded', async (t) => {
    const dataDir = tempDir(t);
    const DAY = 86_400_000;
    const topics = [{ name: 'telemetry', partitions: 1, retention: { maxAgeMs: 7 * DAY, maxBytes: null } }];
    const records = (n: number, timestamp: number, tag: string) => Array.from({ length: n }, (_, i) => ({ timestamp, key: Buffer.from('k'), value: Buffer.from(`${tag}-${i}`) }));
    const appendOffline = async (append: (log: Log) => Promise<void>): Promise<void> => {
      const log = await Log.open({ dataDir, topics });
      try {
        await append(log);
      } finally {
        await log.close();
      }
    };
    const nodeSettings: ConfigInput = { ...settings('gw-retention', { compression: 'lz4' }), topics: [{ name: 'telemetry', partitions: 1, retention: { maxAge: '7d' } }] };
    await appendOffline((log) => log.append('telemetry', 0, records(10, Date.now() - 30 * DAY, 'a')).then(() => undefined));
    const first = await startTestNode(t, nodeSettings, dataDir);
    await waitForStatus(() => first.node.upstream!.status(), caughtUp(10), 'the first 10 forwarded');
    await first.close();
    // An outage longer than retention: 10 more records arrive and expire unforwarded, 5 recent ones stay.
    await appendOffline(async (log) => {
      await log.append('telemetry', 0, records(10, Date.now() - 20 * DAY, 'b'));
      await log.append('telemetry', 0, records(5, Date.now(), 'c'));
      await log.enforceRetention();
      assert.equal(log.partition('telemetry', 0).logStartOffset, 20);
    });
    const second = await startTestNode(t, nodeSettings, dataDir);
    const status = await waitForStatus(() => second.node.upstream!.status(), (s) => s.state === 'forwarding' && s.totalLag === 0 && s.partitions[0]?.forwardedOffset === 25, 'forwarded past the gap');
    assert.equal(status.counters.recordsLostToRetention, 10);
    assert.equal(status.partitions[0]!.recordsLostToRetention, 10);
    const metrics = await (await fetch(`http://127.0.0.1:${second.node.http.port}/metrics`)).text();
    assert.match(metrics, /^tributary_upstream_lost_to_retention_records_total 10$/m);
    const upstream = await readUpstream(kafka.bootstrap, 'edge.gw-retention.telemetry');
    assert.deepEqual(upstream.map((r) => `${r.headers['tributary.offset']}:${r.value}`), [
      ...Array.from({ length: 10 }, (_, i) => `${i}:a-${i}`),
      ...Array.from({ length: 5 }, (_, i) => `${20 + i}:c-${i}`),
    ]);
  });

  test('records lost to retention are counted once, although every failed delivery reconnects and rewinds below the gap', async (t) => {
    const dataDir = tempDir(t);
    const DAY = 86_400_000;
    const topics = [{ name: 'telemetry', partitions: 1, retention: { maxAgeMs: 7 * DAY, maxBytes: null } }];
    const nodeSettings: ConfigInput = { ...settings('gw-lost-once', { mode: 'at-least-once' }), topics: [{ name: 'telemetry', partitions: 1, retention: { maxAge: '7d' } }] };
    const append = async (batches: Array<Array<{ timestamp: number; key: Buffer; value: Buffer }>>, enforce = false): Promise<void> => {
      const log = await Log.open({ dataDir, topics });
      try {
        for (const records of batches) await log.append('telemetry', 0, records);
        if (enforce) await log.enforceRetention();
      } finally {
        await log.close();
      }
    };
    const old = (n: number, age: number, tag: string) => Array.from({ length: n }, (_, i) => ({ timestamp: Date.now() - age, key: Buffer.from('k'), value: Buffer.from(`${tag}-${i}`) }));
    await append([old(10, 30 * DAY, 'a')]);
    const first = await startTestNode(t, nodeSettings, dataDir);
    await waitForStatus(() => first.node.upstream!.status(), caughtUp(10), 'the first 10 forwarded');
    await first.close();
    const admin = new Admin({ clientId: 'retention-once-admin', bootstrapBrokers: [kafka.bootstrap] });
    await admin.alterConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: 'edge.gw-lost-once.telemetry', configs: [{ name: 'max.message.bytes', value: '1000' }] }] });
    await admin.close();
    // 10 records expire unforwarded; after the gap a record the upstream topic refuses (max.message.bytes): every delivery fails.
    await append([old(10, 20 * DAY, 'b'), [{ timestamp: Date.now(), key: Buffer.from('k'), value: Buffer.alloc(4000, 'x') }]], true);
    const second = await startTestNode(t, nodeSettings, dataDir);
    const status = await waitForStatus(() => second.node.upstream!.status(), (s) => s.counters.connects >= 4 && s.counters.errors >= 3, 'several failed deliveries and reconnects');
    assert.equal(second.node.log.partition('telemetry', 0).logStartOffset, 20);
    assert.equal(status.counters.recordsForwarded, 0);
    assert.equal(status.counters.recordsLostToRetention, 10);
    assert.equal(status.partitions[0]!.recordsLostToRetention, 10);
  });

  test('reading the cursors back: records of every aborted transaction are dropped, also several of one producer in one fetch', async () => {
    const admin = new Admin({ clientId: 'reader-admin', bootstrapBrokers: [kafka.bootstrap] });
    await admin.createTopics({ topics: ['committed-reader'], partitions: 1, replicas: 1 });
    await admin.close();
    const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'reader', bootstrapBrokers: [kafka.bootstrap], idempotent: true, transactionalId: 'reader-test', producerId: -1n, producerEpoch: -1 });
    for (const [value, commit] of [['a1', false], ['c1', true], ['a2', false], ['a3', false], ['c2', true]] as const) {
      const tx = await producer.beginTransaction();
      await tx.send({ messages: [{ topic: 'committed-reader', partition: 0, value: Buffer.from(value) }, { topic: 'committed-reader', partition: 0, value: Buffer.from(`${value}'`) }] });
      await (commit ? tx.commit() : tx.abort());
    }
    await producer.close();
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'reader', groupId: 'reader-test', bootstrapBrokers: [kafka.bootstrap] });
    try {
      const values: string[] = [];
      await readCommitted(consumer, 'committed-reader', 0, (r) => values.push(r.value!.toString()), { maxWaitMs: 30_000 });
      assert.deepEqual(values, ['c1', "c1'", 'c2', "c2'"]);
    } finally {
      await consumer.close();
    }
  });

  test('reading the cursors back: an abort marker of a transaction that wrote nothing to the partition (its produce was refused) is passed over', async () => {
    const admin = new Admin({ clientId: 'reader-admin', bootstrapBrokers: [kafka.bootstrap] });
    await admin.createTopics({ topics: ['committed-reader-refused'], partitions: 1, replicas: 1, configs: [{ name: 'max.message.bytes', value: '1000' }] });
    await admin.close();
    const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'reader', bootstrapBrokers: [kafka.bootstrap], idempotent: true, transactionalId: 'reader-refused', producerId: -1n, producerEpoch: -1, retries: 0 });
    const message = (value: string | Buffer) => ({ topic: 'committed-reader-refused', partition: 0, value: Buffer.isBuffer(value) ? value : Buffer.from(value) });
    let tx = await producer.beginTransaction();
    await tx.send({ messages: [message('c1')] });
    await tx.commit();
    tx = await producer.beginTransaction();
    await assert.rejects(tx.send({ messages: [message(Buffer.alloc(4000))] }));
    await tx.abort();
    tx = await producer.beginTransaction();
    await tx.send({ messages: [message('c2')] });
    await tx.commit();
    await producer.close();
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'reader', groupId: 'reader-refused', bootstrapBrokers: [kafka.bootstrap] });
    try {
      const values: string[] = [];
      await readCommitted(consumer, 'committed-reader-refused', 0, (r) => values.push(r.value!.toString()), { maxWaitMs: 30_000 });
      assert.deepEqual(values, ['c1', 'c2']);
    } finally {
      await consumer.close();
    }
  });

  test('gateways sharing the cursor topic: another producer\'s transaction left open below our newer cursor does not make a restart re-send', async (t) => {
    const cursorTopic = 'tributary.shared-cursors';
    const nodeSettings = settings('gw-share', { cursorTopic });
    const first = await startTestNode(t, nodeSettings);
    await publish(await connect(t, first.url), 100, 'before');
    await waitForStatus(() => first.node.upstream!.status(), caughtUp(100), 'the first 100 forwarded');
    // Another gateway's transaction stays open on the cursor topic (an outage or a crash on its side)...
    const other = new Producer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'gw-other', bootstrapBrokers: [kafka.bootstrap], idempotent: true, transactionalId: 'tributary-gw-other', producerId: -1n, producerEpoch: -1, timeout: 300_000 });
    t.after(() => other.close().catch(() => undefined));
    const open = await other.beginTransaction();
    await open.send({ messages: [{ topic: cursorTopic, partition: 0, key: Buffer.from('gw-other/telemetry/0'), value: Buffer.from('{"nextOffset":1,"log":"other"}') }] });
    // ...while this gateway commits newer cursors above it, then restarts.
    await publish(await connect(t, first.url), 100, 'after');
    await waitForStatus(() => first.node.upstream!.status(), caughtUp(200), 'all 200 forwarded');
    await first.close();

    const second = await startTestNode(t, nodeSettings, first.dataDir);
    const status = (): ReturnType<NonNullable<TestNode['node']['upstream']>['status']> => second.node.upstream!.status();
    const seen = await waitForStatus(status, (s) => s.state === 'forwarding' || (s.connecting ?? '').startsWith('waiting'), 'waiting for the open transaction (or forwarding)');
    await open.abort();
    await waitForStatus(status, caughtUp(200), 'caught up once the other transaction ended');
    const records = await readUpstream(kafka.bootstrap, 'edge.gw-share.telemetry');
    assertExactMirror(second.node.log, 'gw-share', records);
    assert.equal(records.length, 200);
    assert.match(seen.connecting ?? '', /waiting for transactions open on tributary\.shared-cursors-0/, `state ${seen.state}: the restart waited for the open transaction`);
  });

  test('the cursor topic: created compacted with small segments; an existing one that is not compacted stops forwarding with TRIB_UPSTREAM_CURSOR_TOPIC', async (t) => {
    const admin = new Admin({ clientId: 'cursor-topic-admin', bootstrapBrokers: [kafka.bootstrap] });
    t.after(() => admin.close());
    const created = await startTestNode(t, settings('gw-compact', { cursorTopic: 'tributary.created-cursors' }));
    await publish(await connect(t, created.url), 10, 'c');
    await waitForStatus(() => created.node.upstream!.status(), caughtUp(10), 'forwarded through the new cursor topic');
    const [description] = await admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: 'tributary.created-cursors', configurationKeys: ['cleanup.policy', 'segment.ms', 'min.cleanable.dirty.ratio'] }] });
    assert.deepEqual(Object.fromEntries(description!.configs.map((c) => [c.name, c.value])), { 'cleanup.policy': 'compact', 'segment.ms': '3600000', 'min.cleanable.dirty.ratio': '0.1' });

    await admin.createTopics({ topics: ['tributary.deleted-cursors'], partitions: 1, replicas: 1, configs: [{ name: 'cleanup.policy', value: 'delete' }] });
    const node = await startTestNode(t, settings('gw-delete', { cursorTopic: 'tributary.deleted-cursors' }));
    await publish(await connect(t, node.url), 10, 'd');
    const status = await waitForStatus(() => node.node.upstream!.status(), (s) => s.lastError?.code === 'TRIB_UPSTREAM_CURSOR_TOPIC', 'refused the cursor topic');
    assert.equal(status.state, 'retrying');
    assert.match(status.lastError!.message, /tributary\.deleted-cursors .*cleanup\.policy=delete/);
    assert.equal(status.counters.recordsForwarded, 0);
  });

  test('MQTT 5.0 message properties travel as record headers: in the HTTP NDJSON records and in the upstream Kafka, as stored', async (t: TestContext) => {
    const node = await startTestNode(t, settings('gw-v5'));
    const client = await connect(t, node.url, { protocolVersion: 5 });
    await client.publishAsync('line-1/temp', '{"temp":21.5}', {
      qos: 1,
      properties: { payloadFormatIndicator: true, messageExpiryInterval: 3600, contentType: 'application/json', responseTopic: 'replies/line-1', correlationData: Buffer.from('req-7'), userProperties: { site: 'hall-3', shift: ['a', 'b'] } },
    });
    const expected = [
      ['mqtt.payload_format', '1'],
      ['mqtt.message_expiry', '3600'],
      ['mqtt.content_type', 'application/json'],
      ['mqtt.response_topic', 'replies/line-1'],
      ['mqtt.correlation_data', 'req-7'],
      ['mqtt.user.site', 'hall-3'],
      ['mqtt.user.shift', 'a'],
      ['mqtt.user.shift', 'b'],
    ];
    const response = await fetch(`http://127.0.0.1:${node.node.http.port}/api/topics/telemetry/records`);
    const lines = (await response.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as { headers: Array<[string, string]> });
    assert.equal(lines.length, 1);
    assert.deepEqual(lines[0]!.headers.filter(([name]) => !['mqtt.topic', 'mqtt.qos', 'mqtt.retain', 'mqtt.client_id'].includes(name)), expected, 'NDJSON: the property headers, in stored order');

    await waitForStatus(() => node.node.upstream!.status(), caughtUp(1), 'forwarded');
    assert.equal((await readUpstream(kafka.bootstrap, 'edge.gw-v5.telemetry')).length, 1);
    const { stdout } = await promisify(execFile)('kcat', ['-C', '-b', kafka.bootstrap, '-t', 'edge.gw-v5.telemetry', '-o', 'beginning', '-e', '-q', '-X', 'isolation.level=read_committed', '-f', '%h\n']);
    const headers = stdout.trim();
    for (const [name, value] of expected) assert.ok(headers.includes(`${name}=${value}`), `upstream carries ${name}=${value}: ${headers}`);
    assert.ok(headers.indexOf('mqtt.user.shift=a') < headers.indexOf('mqtt.user.shift=b'), 'repeated names in the order sent');
  });

  test('createTopics: false and a missing upstream topic: forwarding stops with TRIB_UPSTREAM_TOPIC_MISSING naming the topic and the setting, without retries; ingest goes on', async (t) => {
    const admin = new Admin({ clientId: 'missing-topic-admin', bootstrapBrokers: [kafka.bootstrap] });
    t.after(() => admin.close());
    // At-least-once: the upstream topic of the log topic is missing.
    const node = await startTestNode(t, settings('gw-no-topic', { mode: 'at-least-once', createTopics: false }));
    const status = await waitForStatus(() => node.node.upstream!.status(), (s) => s.state === 'stopped' || s.counters.errors >= 3, 'stopped (or failed three times)');
    assert.equal(status.state, 'stopped', `a config problem is not retried: ${JSON.stringify(status.lastError)}`);
    assert.equal(status.lastError?.code, 'TRIB_UPSTREAM_TOPIC_MISSING');
    assert.match(status.lastError!.message, /edge\.gw-no-topic\.telemetry/);
    assert.match(status.lastError!.message, /upstream\.createTopics/);
    assert.deepEqual([status.counters.connects, status.counters.errors], [1, 1]);
    assert.deepEqual(status.partitions.map((p) => [p.state, p.lastError?.code]), [['waiting', 'TRIB_UPSTREAM_TOPIC_MISSING'], ['waiting', 'TRIB_UPSTREAM_TOPIC_MISSING']]);
    // The dashboard's recent errors have it, as every error the forwarder reports.
    const base = `http://127.0.0.1:${node.node.http.port}`;
    const recent = async (): Promise<Array<{ component: string; summary: string; detail: string }>> => ((await (await fetch(`${base}/api/overview`)).json()) as { errors: Array<{ component: string; summary: string; detail: string }> }).errors;
    let errors = await recent();
    await pollUntil(async () => (errors = await recent()).some((e) => e.summary === 'forwarding failed: TRIB_UPSTREAM_TOPIC_MISSING'), PATIENCE_MS, 100);
    assert.ok(errors.some((e) => e.component === 'upstream' && e.summary === 'forwarding failed: TRIB_UPSTREAM_TOPIC_MISSING' && /edge\.gw-no-topic\.telemetry/.test(e.detail)), JSON.stringify(errors));
    await publish(await connect(t, node.url), 10, 'kept');
    const after = node.node.upstream!.status();
    assert.deepEqual([after.state, after.counters.connects, after.totalLag], ['stopped', 1, 10]);

    // Exactly-once: the cursor topic is missing.
    const eos = await startTestNode(t, settings('gw-no-cursors', { createTopics: false, cursorTopic: 'tributary.absent-cursors' }));
    const stopped = await waitForStatus(() => eos.node.upstream!.status(), (s) => s.state === 'stopped' || s.counters.errors >= 3, 'stopped (or failed three times)');
    assert.deepEqual([stopped.state, stopped.lastError?.code], ['stopped', 'TRIB_UPSTREAM_TOPIC_MISSING']);
    assert.match(stopped.lastError!.message, /tributary\.absent-cursors.*upstream\.createTopics/);
    const topics = await admin.listTopics();
    assert.deepEqual(topics.filter((name) => name === 'edge.gw-no-topic.telemetry' || name === 'tributary.absent-cursors'), [], 'nothing created');
  });

  test('upstream topics: two gateways creating the same topic at once both get its partition count (TOPIC_ALREADY_EXISTS by its Kafka error code)', async (t) => {
    const base = { clientId: 'topics-race', bootstrapBrokers: [kafka.bootstrap] };
    const one = new UpstreamTopics(base, true, 1);
    const two = new UpstreamTopics(base, true, 1);
    t.after(() => Promise.all([one.close(), two.close()]));
    const wish = [{ name: 'edge.race.telemetry', partitions: 3 }];
    const counts = await Promise.all([one.ensure(wish), two.ensure(wish)]);
    assert.deepEqual(counts.map((c) => c.get('edge.race.telemetry')), [3, 3]);
    // The error Kafka gives a second create, recognised by its code.
    const admin = new Admin(base);
    t.after(() => admin.close());
    const refused = await admin.createTopics({ topics: ['edge.race.telemetry'], partitions: 3, replicas: 1 }).then(() => null, (err: unknown) => err);
    assert.notEqual(refused, null);
    assert.equal(hasKafkaError(refused, 'TOPIC_ALREADY_EXISTS'), true);
    assert.equal(hasKafkaError(refused, 'UNKNOWN_TOPIC_OR_PARTITION'), false);
  });

  test('an unreachable cluster: a clear error naming it, retries with backoff, ingest unaffected', async (t) => {
    const node = await startTestNode(t, settings('gw-nowhere', { brokers: ['127.0.0.1:1'], retryInitial: 50, retryMax: 200 }));
    const status = await waitForStatus(() => node.node.upstream!.status(), (s) => s.counters.errors >= 3, 'three failed attempts');
    assert.equal(status.state, 'retrying');
    assert.equal(status.lastError?.code, 'TRIB_UPSTREAM_UNAVAILABLE');
    assert.match(status.lastError!.message, /127\.0\.0\.1:1/);
    await publish(await connect(t, node.url), 50, 'stored-anyway');
    const s = node.node.upstream!.status();
    assert.equal(s.totalLag, 50);
    assert.deepEqual(s.partitions.map((p) => [p.state, p.lastError?.code]), [['waiting', 'TRIB_UPSTREAM_UNAVAILABLE'], ['waiting', 'TRIB_UPSTREAM_UNAVAILABLE']]);
  });
});
