// The Kafka endpoint at the byte level, on a real socket against a real log: what clients do not
// normally send (versions and APIs not served, malformed frames, absurd sizes), and the parts of
// Fetch a client's own logic would hide (long poll, log start, limits, bytes as stored).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { KafkaServer, type KafkaServerOptions } from '../../../bridge/kafka/server.js';
import { Reader } from '../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../bridge/kafka/protocol/writer.js';
import { createLogger } from '../../../bridge/logger.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { RawKafka } from '../../helpers/raw-kafka.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

type Line = Record<string, unknown>;

async function startServer(
  t: TestContext,
  retention?: { maxAgeMs: number | null; maxBytes: number | null },
  options: Partial<Pick<KafkaServerOptions, 'host' | 'advertisedHost' | 'advertisedPort' | 'maxConnections'>> = {},
): Promise<{ server: KafkaServer; log: Log; lines: Line[] }> {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 2, ...(retention === undefined ? {} : { retention }) }] });
  onCleanup(t, () => log.close());
  const lines: Line[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 1000, clusterId: 'test', log, logger, ...options });
  onCleanup(t, () => server.close());
  return { server, log, lines };
}

const body = (w: Writer): Buffer => Buffer.concat(w.chunks());
const records = (n: number, size = 50, timestamp = Date.now()) =>
  Array.from({ length: n }, (_, i) => ({ timestamp, key: Buffer.from(`k${i}`), value: Buffer.alloc(size, 0x61 + (i % 26)) }));

/** ApiVersions v0 answer: error and {key: [min, max]}. */
function readApiVersionsV0(frame: Buffer): { correlationId: number; error: number; ranges: Record<number, [number, number]> } {
  const r = new Reader(frame);
  const correlationId = r.int32();
  const error = r.int16();
  const ranges: Record<number, [number, number]> = {};
  r.array(false, (r) => (ranges[r.int16()] = [r.int16(), r.int16()]));
  return { correlationId, error, ranges };
}

const SERVED = { 0: [3, 9], 1: [4, 17], 2: [1, 7], 3: [0, 12], 17: [0, 1], 18: [0, 4], 22: [0, 5], 32: [0, 4], 36: [0, 2] };
// The consumer-group APIs: OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups.
Object.assign(SERVED, { 8: [0, 9], 9: [0, 9], 10: [0, 6], 11: [0, 9], 12: [0, 4], 13: [0, 5], 14: [0, 5], 15: [0, 5], 16: [0, 5] });
// Deleting groups and their offsets: DeleteGroups, OffsetDelete.
Object.assign(SERVED, { 42: [0, 2], 47: [0, 0] });

test('ApiVersions lists every API served with its versions, in the classic (v0) and flexible (v3) forms', async (t) => {
  const { server } = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  const v0 = kafka.send(18, 0, Buffer.alloc(0));
  assert.deepEqual(readApiVersionsV0((await kafka.response())!), { correlationId: v0, error: 0, ranges: SERVED });

  const v3 = kafka.send(18, 3, body(new Writer().string('raw-test', true).string('1.0', true).taggedFields()), true);
  const r = new Reader((await kafka.response())!);
  assert.equal(r.int32(), v3); // response header v0 even for v3 (KIP-511): no tag section here
  assert.equal(r.int16(), 0);
  const ranges: Record<number, [number, number]> = {};
  r.array(true, (r) => {
    ranges[r.int16()] = [r.int16(), r.int16()];
    r.taggedFields();
  });
  assert.deepEqual(ranges, SERVED);
  assert.equal(r.int32(), 0); // throttle
  r.taggedFields();
  assert.equal(r.remaining, 0);
});

test('an ApiVersions version above ours gets UNSUPPORTED_VERSION with our ranges in a v0 body, and the connection stays open', async (t) => {
  const { server } = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  // A future version with a body we cannot know: answered without reading it.
  const id = kafka.send(18, 99, Buffer.from([0x05, 0x01, 0x02, 0x03]), true);
  assert.deepEqual(readApiVersionsV0((await kafka.response())!), { correlationId: id, error: 35, ranges: SERVED });
  const again = kafka.send(18, 0, Buffer.alloc(0));
  assert.equal(readApiVersionsV0((await kafka.response())!).correlationId, again);
});

test('an API key or a version not served is answered UNSUPPORTED_VERSION, never a silent close', async (t) => {
  const { server, lines } = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  for (const [apiKey, version] of [[57, 0], [1, 3], [2, 0], [999, 0]] as const) {
    const id = kafka.send(apiKey, version, Buffer.alloc(8));
    const r = new Reader((await kafka.response())!);
    assert.equal(r.int32(), id);
    assert.equal(r.int16(), 35, `key ${apiKey} v${version}`);
  }
  const id = kafka.send(18, 0, Buffer.alloc(0));
  assert.equal(readApiVersionsV0((await kafka.response())!).correlationId, id);
  assert.ok(lines.some((l) => l.apiKey === 57 && l.apiVersion === 0 && l.clientId === 'raw-test' && l.level === 40));
});

test('a malformed request closes that connection with a log line naming the cause; the server goes on', async (t) => {
  const { server, lines } = await startServer(t);
  const bad = await RawKafka.open(t, server.port);
  // Metadata v1: an array of 1 topic, then one byte where the name's int16 length should be.
  bad.send(3, 1, Buffer.from([0, 0, 0, 1, 0]));
  assert.equal(await bad.response(), null);
  await bad.closed;
  const line = lines.find((l) => l.code === 'TRIB_KAFKA_MALFORMED_REQUEST');
  assert.ok(line !== undefined, 'a warning names the error');
  assert.equal(line.level, 40);
  assert.equal(line.clientId, 'raw-test');
  assert.equal(line.apiKey, 3);
  assert.match(String(line.reason), /int16 at byte/);
  const good = await RawKafka.open(t, server.port);
  const id = good.send(18, 0, Buffer.alloc(0));
  assert.equal(readApiVersionsV0((await good.response())!).correlationId, id);
});

test('a 2 GiB length prefix closes the connection on its four bytes, with a log line naming the size', async (t) => {
  const { server, lines } = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  kafka.sendRaw(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  await kafka.closed;
  const line = lines.find((l) => l.code === 'TRIB_KAFKA_FRAME_TOO_LARGE');
  assert.match(String(line?.reason), /2147483647 bytes is over kafka\.maxRequestSize \(65536 bytes\)/);
  assert.equal(server.stats.connections, 0);
});

interface FetchPartition {
  index: number;
  error: number;
  highWatermark: number;
  logStartOffset: number;
  records: Buffer;
  /** The DivergingEpoch tagged field, when sent. */
  diverging?: { epoch: number; endOffset: number };
}

/** A Fetch v12 request (flexible, topics by name) for partitions of 'mqtt'. */
function fetchV12(maxWaitMs: number, minBytes: number, partitions: Array<{ index: number; offset: number; maxBytes: number; lastFetchedEpoch?: number }>, maxBytes = 0x7fffffff): Buffer {
  const w = new Writer().int32(-1).int32(maxWaitMs).int32(minBytes).int32(maxBytes).int8(0).int32(0).int32(-1);
  w.array([{ name: 'mqtt', partitions }], true, (w, t) => {
    w.string(t.name, true);
    w.array(t.partitions, true, (w, p) => w.int32(p.index).int32(-1).int64(p.offset).int32(p.lastFetchedEpoch ?? -1).int64(-1).int32(p.maxBytes).taggedFields());
    w.taggedFields();
  });
  return body(w.array([], true, () => undefined).string('', true).taggedFields());
}

function readFetchV12(frame: Buffer): FetchPartition[] {
  const r = new Reader(frame);
  r.int32(); // correlation id
  r.taggedFields(); // response header v1
  assert.equal(r.int32(), 0);
  assert.equal(r.int16(), 0);
  assert.equal(r.int32(), 0); // no fetch session
  const out: FetchPartition[] = [];
  r.array(true, (r) => {
    assert.equal(r.string(true), 'mqtt');
    r.array(true, (r) => {
      const index = r.int32();
      const error = r.int16();
      const highWatermark = r.int64();
      assert.equal(r.int64(), highWatermark); // last stable offset
      const logStartOffset = r.int64();
      assert.equal(r.nullableArray(true, (r) => r.int64()), null); // read uncommitted: no aborted list
      assert.equal(r.int32(), -1);
      const records = Buffer.from(r.nullableBytes(true)!);
      let diverging: FetchPartition['diverging'];
      r.taggedFields((tag, field) => {
        if (tag === 0) diverging = { epoch: field.int32(), endOffset: field.int64() };
      });
      out.push({ index, error, highWatermark, logStartOffset, records, ...(diverging === undefined ? {} : { diverging }) });
    });
    r.taggedFields();
  });
  r.taggedFields();
  return out;
}

test('Fetch serves the stored batches byte for byte, bounded by partition_max_bytes except for the first batch (KIP-74)', async (t) => {
  const { server, log } = await startServer(t);
  for (let i = 0; i < 3; i++) await log.append('mqtt', 0, records(2));
  const stored = log.readBatches('mqtt', 0, 0).map((b) => b.bytes);
  const kafka = await RawKafka.open(t, server.port);
  kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset: 0, maxBytes: 1 << 20 }, { index: 1, offset: 0, maxBytes: 1 << 20 }]), true);
  const [p0, p1] = readFetchV12((await kafka.response())!);
  assert.deepEqual(p0, { index: 0, error: 0, highWatermark: 6, logStartOffset: 0, records: Buffer.concat(stored) });
  assert.deepEqual(p1, { index: 1, error: 0, highWatermark: 0, logStartOffset: 0, records: Buffer.alloc(0) });

  // From offset 3 (inside the second batch): that batch whole, and no more than 1 byte's worth after it.
  kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset: 3, maxBytes: 1 }]), true);
  assert.deepEqual(readFetchV12((await kafka.response())!)[0]!.records, stored[1]);
  // max_bytes holds the second partition's first batch back once the first partition filled the answer.
  await log.append('mqtt', 1, records(1));
  kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset: 0, maxBytes: 1 << 20 }, { index: 1, offset: 0, maxBytes: 1 << 20 }], stored[0]!.length), true);
  const [first, second] = readFetchV12((await kafka.response())!);
  assert.deepEqual(first!.records, stored[0]);
  assert.equal(second!.records.length, 0);
  assert.equal(second!.highWatermark, 1);
});

test('Fetch below the log start gets OFFSET_OUT_OF_RANGE with the log start retention left; past the log end too', async (t) => {
  const { server, log } = await startServer(t, { maxAgeMs: 60_000, maxBytes: null });
  await log.append('mqtt', 0, records(2, 10, 1_000_000)); // long expired
  await log.append('mqtt', 0, records(2, 10, 1_000_000));
  await log.append('mqtt', 0, records(1, 10));
  await log.enforceRetention();
  assert.equal(log.partition('mqtt', 0).logStartOffset, 4);
  const kafka = await RawKafka.open(t, server.port);
  kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset: 1, maxBytes: 1 << 20 }]), true);
  assert.deepEqual(readFetchV12((await kafka.response())!), [{ index: 0, error: 1, highWatermark: 5, logStartOffset: 4, records: Buffer.alloc(0) }]);
  kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset: 6, maxBytes: 1 << 20 }]), true);
  assert.equal(readFetchV12((await kafka.response())!)[0]!.error, 1);
  kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset: 4, maxBytes: 1 << 20 }]), true);
  const [ok] = readFetchV12((await kafka.response())!);
  assert.equal(ok!.error, 0);
  assert.deepEqual(ok!.records, log.readBatches('mqtt', 0, 4)[0]!.bytes);
});

test('a long-poll Fetch is answered when a record is appended (woken by the log, not at max_wait_ms)', { timeout: 60_000 }, async (t) => {
  const { server, log } = await startServer(t);
  await log.append('mqtt', 0, records(1));
  const kafka = await RawKafka.open(t, server.port);
  // max_wait_ms as long as Kafka allows: only the append can end this wait within the test's timeout.
  kafka.send(1, 12, fetchV12(0x7fffffff, 1, [{ index: 0, offset: 1, maxBytes: 1 << 20 }]), true);
  await waitFor(() => server.stats.answering === 1, 'the fetch is waiting');
  const appended = await log.append('mqtt', 0, records(1));
  const [p] = readFetchV12((await kafka.response())!);
  assert.equal(appended.baseOffset, 1);
  assert.deepEqual(p!.records, log.readBatches('mqtt', 0, 1)[0]!.bytes);
  assert.equal(p!.highWatermark, 2);
});

test('closing the server ends a waiting long poll and its connection', { timeout: 60_000 }, async (t) => {
  const { server } = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  kafka.send(1, 12, fetchV12(0x7fffffff, 1, [{ index: 0, offset: 0, maxBytes: 1 << 20 }]), true);
  await waitFor(() => server.stats.answering === 1, 'the fetch is waiting');
  await server.close();
  await kafka.closed;
});

/** A ListOffsets v7 request (flexible) for partition 0 of 'mqtt'. */
function listOffsetsV7(timestamp: number, currentLeaderEpoch = -1): Buffer {
  const w = new Writer().int32(-1).int8(0);
  w.array(['mqtt'], true, (w, name) => {
    w.string(name, true);
    w.array([0], true, (w, index) => w.int32(index).int32(currentLeaderEpoch).int64(timestamp).taggedFields());
    w.taggedFields();
  });
  return body(w.taggedFields());
}

function readListOffsetsV7(frame: Buffer): { error: number; timestamp: number; offset: number; leaderEpoch: number } {
  const r = new Reader(frame);
  r.int32();
  r.taggedFields();
  assert.equal(r.int32(), 0);
  const [answer] = r.array(true, (r) => {
    assert.equal(r.string(true), 'mqtt');
    const [p] = r.array(true, (r) => {
      assert.equal(r.int32(), 0);
      const p = { error: r.int16(), timestamp: r.int64(), offset: r.int64(), leaderEpoch: r.int32() };
      r.taggedFields();
      return p;
    });
    r.taggedFields();
    return p!;
  });
  return answer!;
}

test('ListOffsets: earliest, latest, by time (the first record at or after it), the largest timestamp, and leader-epoch fencing', async (t) => {
  const { server, log } = await startServer(t);
  for (const ts of [5000, 9000, 7000, 9000]) await log.append('mqtt', 0, records(1, 10, ts));
  const kafka = await RawKafka.open(t, server.port);
  const ask = async (timestamp: number, epoch = -1) => {
    kafka.send(2, 7, listOffsetsV7(timestamp, epoch), true);
    return readListOffsetsV7((await kafka.response())!);
  };
  assert.deepEqual(await ask(-2), { error: 0, timestamp: -1, offset: 0, leaderEpoch: 0 });
  assert.deepEqual(await ask(-1), { error: 0, timestamp: -1, offset: 4, leaderEpoch: 0 });
  assert.deepEqual(await ask(0), { error: 0, timestamp: 5000, offset: 0, leaderEpoch: 0 });
  assert.deepEqual(await ask(6000), { error: 0, timestamp: 9000, offset: 1, leaderEpoch: 0 });
  assert.deepEqual(await ask(9000), { error: 0, timestamp: 9000, offset: 1, leaderEpoch: 0 });
  assert.deepEqual(await ask(9001), { error: 0, timestamp: -1, offset: -1, leaderEpoch: -1 });
  assert.deepEqual(await ask(-3), { error: 0, timestamp: 9000, offset: 1, leaderEpoch: 0 });
  // KIP-320: an epoch newer than the partition's is unknown here; after a new epoch, the old one is fenced.
  assert.equal((await ask(-1, 1)).error, 75);
  log.becomeLeader('mqtt', 0, 2);
  assert.equal((await ask(-1, 1)).error, 74);
  assert.equal((await ask(-1, 2)).error, 0);
});

test('Fetch v12 names the diverging epoch when the last fetched epoch does not reach the fetch offset in this log (log truncation detection)', async (t) => {
  const { server, log } = await startServer(t);
  await log.append('mqtt', 0, records(2)); // epoch 0: offsets 0-1
  log.becomeLeader('mqtt', 0, 3);
  await log.append('mqtt', 0, records(2)); // epoch 3: offsets 2-3
  const kafka = await RawKafka.open(t, server.port);
  const fetchAt = async (offset: number, lastFetchedEpoch: number) => {
    kafka.send(1, 12, fetchV12(0, 0, [{ index: 0, offset, maxBytes: 1 << 20, lastFetchedEpoch }]), true);
    return readFetchV12((await kafka.response())!)[0]!;
  };
  // A fetcher that saw epoch 1 up to offset 3: this log's epochs up to 1 end at offset 2 (epoch 0).
  const diverged = await fetchAt(3, 1);
  assert.deepEqual(diverged.diverging, { epoch: 0, endOffset: 2 });
  assert.equal(diverged.records.length, 0);
  // Consistent histories: no divergence, the records.
  const ok = await fetchAt(2, 0);
  assert.equal(ok.diverging, undefined);
  assert.deepEqual(ok.records, log.readBatches('mqtt', 0, 2)[0]!.bytes);
  assert.equal((await fetchAt(4, 3)).diverging, undefined);
});

/** Metadata v1's brokers: [node id, host, port]. */
async function brokers(kafka: RawKafka): Promise<Array<[number, string, number]>> {
  kafka.send(3, 1, Buffer.from([0, 0, 0, 0])); // no topics
  const r = new Reader((await kafka.response())!);
  r.int32();
  return r.array(false, (r) => {
    const broker: [number, string, number] = [r.int32(), r.string(false), r.int32()];
    r.nullableString(false); // rack
    return broker;
  });
}

test('Metadata advertises the configured host and port, or on a wildcard listener the address the client reached', async (t) => {
  const wildcard = await startServer(t, undefined, { host: '0.0.0.0' });
  assert.deepEqual(await brokers(await RawKafka.open(t, wildcard.server.port)), [[0, '127.0.0.1', wildcard.server.port]]);
  const advertised = await startServer(t, undefined, { advertisedHost: 'gateway-7.local', advertisedPort: 19092 });
  assert.deepEqual(await brokers(await RawKafka.open(t, advertised.server.port)), [[0, 'gateway-7.local', 19092]]);
});

test('kafka.maxConnections: a connection beyond it is closed at once, with one warning per burst; a slot freed is usable again', async (t) => {
  const { server, lines } = await startServer(t, undefined, { maxConnections: 2 });
  const first = await RawKafka.open(t, server.port);
  await RawKafka.open(t, server.port);
  await waitFor(() => server.stats.connections === 2, 'two connections');
  for (let i = 0; i < 3; i++) await (await RawKafka.open(t, server.port)).closed;
  assert.equal(server.stats.refused, 3);
  assert.equal(lines.filter((l) => l.msg === 'Kafka connection refused: kafka.maxConnections reached').length, 1);
  await first.close();
  await waitFor(() => server.stats.connections === 1, 'a slot freed');
  const again = await RawKafka.open(t, server.port);
  const id = again.send(18, 0, Buffer.alloc(0));
  assert.equal(readApiVersionsV0((await again.response())!).correlationId, id);
});
