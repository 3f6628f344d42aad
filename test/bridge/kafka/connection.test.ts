// A connection's request pipeline, at the byte level on a real socket against a real log: Produce
// requests start while earlier ones of the connection wait for their commit, their appends go in
// request order, the answers go out strictly in request order, and the pipeline is bounded.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { PIPELINE_DEPTH } from '../../../bridge/kafka/connection.js';
import { Writer } from '../../../bridge/kafka/protocol/writer.js';
import { KafkaServer } from '../../../bridge/kafka/server.js';
import { createLogger } from '../../../bridge/logger.js';
import { clientBatch, compressedClientBatch } from '../../helpers/client-batch.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { initProducerId, readProduceResponse, sendProduce } from '../../helpers/kafka-produce.js';
import { RawKafka } from '../../helpers/raw-kafka.js';
import { makeRecords, values } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

/** A server on a log whose partition 0 commits only while `release.held` is false (acks=-1 answers wait for it). */
async function startServer(t: TestContext): Promise<{ kafka: RawKafka; log: Log; server: KafkaServer; release: { held: boolean } }> {
  const release = { held: true };
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'in', partitions: 2 }], commitPolicy: (p) => (release.held && p.partition === 0 ? p.logStartOffset : p.logEndOffset) });
  onCleanup(t, () => log.close());
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 1 << 20, maxConnections: 10, clusterId: 'test', log, logger: createLogger('silent') });
  onCleanup(t, () => server.close());
  return { kafka: await RawKafka.open(t, server.port), log, server, release };
}

test('two Produce requests sent back to back: the second is stored while the first waits for its commit, and the answers come in request order', async (t) => {
  const { kafka, log, server, release } = await startServer(t);
  const first = sendProduce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'held')) }], { acks: -1, timeoutMs: 60_000 });
  const second = sendProduce(kafka, 3, [{ topic: 'in', partition: 1, records: clientBatch(makeRecords(2, 'free')) }], { acks: 1 });
  // The second request's batch is durable (its answer is ready) while the first is not committed.
  await waitFor(() => log.partition('in', 1).logEndOffset === 2, 'the second request stored while the first waits');
  assert.equal(log.partition('in', 0).highWatermark, 0, 'the first is still waiting for its commit');
  assert.equal(server.traffic.pipelinedRequests, 1);
  release.held = false;
  log.advanceHighWatermark('in', 0, 1);
  assert.deepEqual(readProduceResponse((await kafka.response())!, 9, first).map((a) => [a.partition, a.error, a.baseOffset]), [[0, 0, 0]], 'the first answer is the first request\'s');
  assert.deepEqual(readProduceResponse((await kafka.response())!, 3, second).map((a) => [a.partition, a.error, a.baseOffset]), [[1, 0, 0]]);
  assert.deepEqual(values(log.read('in', 1, 0).records), ['free-0', 'free-1']);
});

test(`an idempotent producer's requests in flight are appended in request order (sequences accepted), at most ${PIPELINE_DEPTH} at once, and answered in order`, async (t) => {
  const { kafka, log, release } = await startServer(t);
  const [, producerId] = await initProducerId(kafka, 4);
  const requests = 3 * PIPELINE_DEPTH;
  const ids: number[] = [];
  // All of them in one go, as a producer with that many requests in flight would send them.
  for (let i = 0; i < requests; i++) {
    ids.push(sendProduce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(2, `r${i}`), { producerId, producerEpoch: 0, baseSequence: 2 * i }) }], { acks: -1, timeoutMs: 60_000 }));
  }
  await waitFor(() => log.partition('in', 0).logEndOffset === 2 * PIPELINE_DEPTH, `${PIPELINE_DEPTH} requests started`);
  // A round trip through the writer thread and another connection's answer, both after the
  // pipeline filled: the requests behind it are still not started.
  await log.append('in', 1, makeRecords(1, 'other'));
  assert.equal(log.partition('in', 0).logEndOffset, 2 * PIPELINE_DEPTH, 'no more than the pipeline holds is started');

  release.held = false;
  log.advanceHighWatermark('in', 0, 2 * PIPELINE_DEPTH);
  for (let i = 0; i < requests; i++) {
    const answer = readProduceResponse((await kafka.response())!, 9, ids[i]!);
    assert.deepEqual(answer.map((a) => [a.error, a.baseOffset]), [[0, 2 * i]], `request ${i}`);
  }
  assert.deepEqual(values(log.read('in', 0, 0, { maxRecords: 2 * requests }).records), Array.from({ length: requests }, (_, i) => [`r${i}-0`, `r${i}-1`]).flat());
});

test("a compressed batch (decompressed off the event loop) and the next request's plain batch, back to back from one idempotent producer: appended in request order, both sequences accepted", async (t) => {
  const { kafka, log, release } = await startServer(t);
  const [, producerId] = await initProducerId(kafka, 4);
  // Large enough that inflating it takes a while on the thread pool, while the plain batch behind it needs no wait.
  const big = makeRecords(2000, 'z'.repeat(400));
  const first = sendProduce(kafka, 9, [{ topic: 'in', partition: 0, records: compressedClientBatch(big, 'gzip', { producerId, producerEpoch: 0, baseSequence: 0 }) }], { acks: -1, timeoutMs: 60_000 });
  const second = sendProduce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'after'), { producerId, producerEpoch: 0, baseSequence: 2000 }) }], { acks: -1, timeoutMs: 60_000 });
  await waitFor(() => log.partition('in', 0).logEndOffset === 2001, 'both requests stored');
  release.held = false;
  log.advanceHighWatermark('in', 0, 2001);
  assert.deepEqual(readProduceResponse((await kafka.response())!, 9, first).map((a) => [a.error, a.baseOffset]), [[0, 0]]);
  assert.deepEqual(readProduceResponse((await kafka.response())!, 9, second).map((a) => [a.error, a.baseOffset]), [[0, 2000]]);
  assert.deepEqual(values(log.read('in', 0, 1999, { maxRecords: 2 }).records), [big[1999]!.value!.toString(), 'after-0']);
});

test('a request of another API behind Produce requests waits for them and is answered after them; nothing starts behind it', async (t) => {
  const { kafka, log, server, release } = await startServer(t);
  const produced = sendProduce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'a')) }], { acks: -1, timeoutMs: 60_000 });
  const versions = kafka.send(18, 0, Buffer.alloc(0));
  const after = sendProduce(kafka, 9, [{ topic: 'in', partition: 1, records: clientBatch(makeRecords(1, 'b')) }], { acks: 1 });
  await waitFor(() => log.partition('in', 0).logEndOffset === 1, 'the first request stored');
  await log.append('in', 0, makeRecords(1, 'round-trip'));
  assert.equal(log.partition('in', 1).logEndOffset, 0, 'the Produce behind ApiVersions has not started');
  assert.equal(server.traffic.pipelinedRequests, 0);
  release.held = false;
  log.advanceHighWatermark('in', 0, 2);
  assert.equal(readProduceResponse((await kafka.response())!, 9, produced)[0]!.error, 0);
  assert.equal((await kafka.response())!.readInt32BE(0), versions);
  assert.deepEqual(readProduceResponse((await kafka.response())!, 9, after).map((a) => [a.partition, a.error, a.baseOffset]), [[1, 0, 0]]);
});

/** A Fetch v12 request for all of partition 1 of 'in' from offset 0, up to `maxBytes`. */
function fetchAll(maxBytes: number): Buffer {
  const w = new Writer().int32(-1).int32(0).int32(1).int32(maxBytes).int8(0).int32(0).int32(-1);
  w.array(['in'], true, (w, name) => {
    w.string(name, true);
    w.array([1], true, (w, index) => w.int32(index).int32(-1).int64(0).int32(-1).int64(-1).int32(maxBytes).taggedFields());
    w.taggedFields();
  });
  return Buffer.concat(w.array([], true, () => undefined).string('', true).taggedFields().chunks());
}

test('a client that never reads its answers: the connection stops taking requests once the socket is full, and answers all of them, in order, when it reads', async (t) => {
  const { kafka, log, server } = await startServer(t);
  // About 2 MiB committed in partition 1: each Fetch answer carries all of it.
  for (let b = 0; b < 20; b++) await log.append('in', 1, Array.from({ length: 100 }, (_, i) => ({ timestamp: 1_700_000_000_000 + i, key: null, value: Buffer.alloc(1000, 0x61 + (b % 26)) })));
  const requests = 64;
  kafka.pause();
  const ids = Array.from({ length: requests }, () => kafka.send(1, 12, fetchAll(8 << 20), true));
  await waitFor(() => (server.traffic.requests.get('Fetch') ?? 0) > 0, 'the first Fetch answered');
  // Another connection's answer and a writer round trip later, most requests are still unread:
  // the socket and the client's receive buffer hold a few answers, the node at most one more.
  const other = await RawKafka.open(t, server.port);
  other.send(18, 0, Buffer.alloc(0));
  assert.ok((await other.response()) !== null);
  await log.append('in', 0, makeRecords(1, 'round-trip'));
  const answered = server.traffic.requests.get('Fetch')!;
  assert.ok(answered < requests / 2, `${answered} of ${requests} Fetch requests answered while the client reads nothing`);
  kafka.resume();
  for (const id of ids) assert.equal((await kafka.response())!.readInt32BE(0), id);
  assert.equal(server.traffic.requests.get('Fetch'), requests);
});
