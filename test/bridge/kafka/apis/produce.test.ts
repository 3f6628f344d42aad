// Produce and InitProducerId at the byte level, on a real socket against a real log: what real
// clients' own retry logic would hide (a batch sent twice with the same producer id and sequence,
// sequences out of order, an old epoch) and each per-partition error, in versions 3 (classic) and
// 9 (flexible).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log, type CommitPolicy } from '../../../../broker/log/log.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { createLogger } from '../../../../bridge/logger.js';
import { readBatchHeader } from '../../../../broker/log/record-batch.js';
import type { Logger } from '../../../../bridge/logger.js';
import { clientBatch, compressedClientBatch, rechecksum, type ProducerFields, type TestCodec } from '../../../helpers/client-batch.js';
import { initProducerId, produce, type PartitionResponse } from '../../../helpers/kafka-produce.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { RawKafka } from '../../../helpers/raw-kafka.js';
import { makeRecords, values } from '../../../helpers/records.js';
import { tempDir } from '../../../helpers/temp-dir.js';

async function startServer(t: TestContext, options: { commitPolicy?: CommitPolicy; maxMessageBytes?: number; maxUncompressedBytes?: number; logger?: Logger } = {}): Promise<{ kafka: RawKafka; log: Log; dataDir: string }> {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'in', partitions: 2 }], ...(options.commitPolicy === undefined ? {} : { commitPolicy: options.commitPolicy }) });
  onCleanup(t, () => log.close());
  const logger = options.logger ?? createLogger('silent');
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 1 << 20, maxConnections: 10, clusterId: 'test', log, logger, maxMessageBytes: options.maxMessageBytes ?? 1_048_588, ...(options.maxUncompressedBytes === undefined ? {} : { maxUncompressedBytes: options.maxUncompressedBytes }) });
  onCleanup(t, () => server.close());
  return { kafka: await RawKafka.open(t, server.port), log, dataDir };
}

const idempotent = (producerId: number, baseSequence: number, producerEpoch = 0): ProducerFields => ({ producerId, producerEpoch, baseSequence });
const summary = (answers: PartitionResponse[] | null) => answers?.map((a) => [a.topic, a.partition, a.error, a.baseOffset]);

test('InitProducerId hands out a new producer id with epoch 0 in every version, never the same one, also after a restart; a transactional id is refused', async (t) => {
  const { kafka, log, dataDir } = await startServer(t);
  const ids: number[] = [];
  for (let version = 0; version <= 5; version++) {
    const [error, producerId, epoch] = await initProducerId(kafka, version);
    assert.deepEqual([error, epoch], [0, 0], `v${version}`);
    ids.push(producerId);
  }
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(await initProducerId(kafka, 4, 'my-transactions'), [53, -1, -1], 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED: no transactions here');
  await log.close();
  const reopened = await Log.open({ dataDir });
  onCleanup(t, () => reopened.close());
  assert.equal(await reopened.allocateProducerId(), 6);
});

test('Produce v3 and v9 store the batch as sent, answer its base offset and the log start, and the records read back', async (t) => {
  const { kafka, log } = await startServer(t);
  const v3 = await produce(kafka, 3, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(2, 'v3')) }], { acks: 1 });
  assert.deepEqual(summary(v3), [['in', 0, 0, 0]]);
  const v9 = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(3, 'v9')) }, { topic: 'in', partition: 1, records: clientBatch(makeRecords(1, 'p1')) }]);
  assert.deepEqual(v9?.map((a) => [a.partition, a.error, a.baseOffset, a.logStartOffset, a.message]), [[0, 0, 2, 0, null], [1, 0, 0, 0, null]]);
  assert.deepEqual(values(log.read('in', 0, 0).records), ['v3-0', 'v3-1', 'v9-0', 'v9-1', 'v9-2']);
  assert.deepEqual(values(log.read('in', 1, 0).records), ['p1-0']);
});

test('a retried batch (same producer id, epoch and sequence, sent twice) is stored once and both answers carry its offset', async (t) => {
  const { kafka, log } = await startServer(t);
  const [, producerId] = await initProducerId(kafka, 4);
  const first = clientBatch(makeRecords(2, 'a'), idempotent(producerId, 0));
  const second = clientBatch(makeRecords(2, 'b'), idempotent(producerId, 2));
  assert.deepEqual(summary(await produce(kafka, 9, [{ topic: 'in', partition: 0, records: first }])), [['in', 0, 0, 0]]);
  assert.deepEqual(summary(await produce(kafka, 9, [{ topic: 'in', partition: 0, records: second }])), [['in', 0, 0, 2]]);
  assert.deepEqual(summary(await produce(kafka, 9, [{ topic: 'in', partition: 0, records: first }])), [['in', 0, 0, 0]], 'the retry of the first');
  assert.deepEqual(summary(await produce(kafka, 3, [{ topic: 'in', partition: 0, records: second }])), [['in', 0, 0, 2]], 'the retry of the second');
  assert.deepEqual(values(log.read('in', 0, 0).records), ['a-0', 'a-1', 'b-0', 'b-1'], 'stored once each');
});

test('a sequence out of order gets OUT_OF_ORDER_SEQUENCE_NUMBER and an older epoch INVALID_PRODUCER_EPOCH; nothing is stored', async (t) => {
  const { kafka, log } = await startServer(t);
  const [, producerId] = await initProducerId(kafka, 4);
  await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(2), idempotent(producerId, 0, 1)) }]);
  const gap = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1), idempotent(producerId, 5, 1)) }]);
  assert.deepEqual(summary(gap), [['in', 0, 45, -1]]);
  assert.match(gap![0]!.message!, /sequence 5, expected 2/);
  const old = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1), idempotent(producerId, 2, 0)) }]);
  assert.deepEqual(summary(old), [['in', 0, 47, -1]]);
  assert.equal(log.partition('in', 0).logEndOffset, 2);
});

test('each partition of a request gets its own error; the good one is stored', async (t) => {
  const { kafka, log } = await startServer(t, { maxMessageBytes: 2048 });
  const good = clientBatch(makeRecords(1, 'good'));
  const corrupt = Buffer.from(good);
  corrupt[corrupt.length - 2]! ^= 0x55;
  const big = clientBatch([{ timestamp: 1, key: null, value: Buffer.alloc(4096) }]);
  const answers = await produce(kafka, 8, [
    { topic: 'in', partition: 0, records: good },
    { topic: 'in', partition: 1, records: corrupt },
    { topic: 'in', partition: 7, records: good },
    { topic: 'nope', partition: 0, records: good },
    { topic: 'in', partition: 1, records: clientBatch(makeRecords(2), { attributes: 5 }) },
    { topic: 'in', partition: 1, records: big },
    { topic: 'in', partition: 1, records: Buffer.concat([good, good]) },
    { topic: 'in', partition: 1, records: null },
  ]);
  assert.deepEqual(summary(answers), [
    ['in', 0, 0, 0],
    ['in', 1, 2, -1], // CORRUPT_MESSAGE
    ['in', 7, 3, -1], // UNKNOWN_TOPIC_OR_PARTITION
    ['in', 1, 76, -1], // UNSUPPORTED_COMPRESSION_TYPE (codec id 5 names no codec)
    ['in', 1, 10, -1], // MESSAGE_TOO_LARGE
    ['in', 1, 87, -1], // INVALID_RECORD: one batch per partition
    ['in', 1, 87, -1], // INVALID_RECORD: no records
    ['nope', 0, 3, -1], // not auto-created
  ]);
  assert.deepEqual(log.topics().map((tp) => tp.name), ['in']);
  assert.deepEqual([log.partition('in', 0).logEndOffset, log.partition('in', 1).logEndOffset], [1, 0]);
});

test('acks=0 is stored and never answered; a transactional id or acks=2 is refused for every partition', async (t) => {
  const { kafka, log } = await startServer(t);
  assert.equal(await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'quiet')) }], { acks: 0 }), null);
  assert.deepEqual(values(log.read('in', 0, 0).records), ['quiet-0']);
  const transactional = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1)) }], { transactionalId: 'tx' });
  assert.deepEqual(summary(transactional), [['in', 0, 53, -1]]);
  assert.deepEqual(summary(await produce(kafka, 3, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1)) }], { acks: 2 })), [['in', 0, 21, -1]]);
  assert.equal(log.partition('in', 0).logEndOffset, 1);
});

test('acks=-1 waits for the commit (the high watermark), up to timeout_ms: REQUEST_TIMED_OUT while it is held back; acks=1 answers on the durable append', async (t) => {
  let held = true;
  const { kafka, log } = await startServer(t, { commitPolicy: (p) => (held ? p.logStartOffset : p.logEndOffset) });
  const timedOut = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'held')) }], { acks: -1, timeoutMs: 50 });
  assert.deepEqual(summary(timedOut), [['in', 0, 7, -1]]);
  assert.match(timedOut![0]!.message!, /stored at 0, not committed within timeout_ms/);
  assert.deepEqual(summary(await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'leader')) }], { acks: 1 })), [['in', 0, 0, 1]]);
  held = false;
  const committed = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1, 'all')) }], { acks: -1, timeoutMs: 30_000 });
  assert.deepEqual(summary(committed), [['in', 0, 0, 2]]);
  assert.deepEqual(values(log.read('in', 0, 0).records), ['held-0', 'leader-0', 'all-0']);
});

test('compressed batches (gzip, snappy raw and xerial, lz4, zstd) are stored uncompressed with the producer fields, timestamps, keys, values and headers as sent', async (t) => {
  const { kafka, log } = await startServer(t);
  const [, producerId] = await initProducerId(kafka, 4);
  const codecs: TestCodec[] = ['gzip', 'snappy', 'snappy-xerial', 'lz4', 'zstd'];
  let sequence = 0;
  for (const [i, codec] of codecs.entries()) {
    const records = makeRecords(3 + i, codec, 1_700_000_000_000 + i * 1000);
    const batch = compressedClientBatch(records, codec, idempotent(producerId, sequence));
    const answer = await produce(kafka, i % 2 === 0 ? 9 : 3, [{ topic: 'in', partition: 0, records: batch }]);
    assert.deepEqual(summary(answer), [['in', 0, 0, sequence]], codec);
    const retry = await produce(kafka, 9, [{ topic: 'in', partition: 0, records: batch }]);
    assert.deepEqual(summary(retry), [['in', 0, 0, sequence]], `${codec}: the retry is recognised as the same batch`);
    sequence += records.length;
  }
  const stored = log.readBatches('in', 0, 0, 1 << 30);
  assert.equal(stored.length, codecs.length, 'one batch each, the retries not stored again');
  let expectedSequence = 0;
  for (const [i, b] of stored.entries()) {
    const h = readBatchHeader(b.bytes, true); // the new CRC holds
    assert.deepEqual([h.attributes & 7, h.producerId, h.producerEpoch, h.baseSequence, h.recordCount, h.firstTimestamp, h.maxTimestamp], [0, producerId, 0, expectedSequence, 3 + i, 1_700_000_000_000 + i * 1000, 1_700_000_000_000 + i * 1000 + 2 + i], codecs[i]);
    expectedSequence += 3 + i;
  }
  const read = log.read('in', 0, 0, { maxRecords: 100 }).records;
  const sent = codecs.flatMap((codec, i) => makeRecords(3 + i, codec, 1_700_000_000_000 + i * 1000));
  assert.deepEqual(read.map((r) => [r.offset, r.timestamp, r.key?.toString(), r.value?.toString(), r.headers.map(([k, v]) => `${k}=${v?.toString()}`)]),
    sent.map((r, offset) => [offset, r.timestamp, r.key?.toString(), r.value?.toString(), r.headers!.map(([k, v]) => `${k}=${v?.toString()}`)]));
});

test('a corrupt compressed payload gets CORRUPT_MESSAGE, a bomb or a request past kafka.maxUncompressedBytes MESSAGE_TOO_LARGE, a codec id that does not exist UNSUPPORTED_COMPRESSION_TYPE, each with a warning; nothing of them is stored and the connection goes on', async (t) => {
  const lines: Array<{ msg: string; problem?: string; codec?: string }> = [];
  const logger = createLogger('warn', { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) });
  const { kafka, log } = await startServer(t, { maxUncompressedBytes: 1 << 20, logger });
  const corrupt = compressedClientBatch(makeRecords(50, 'c'), 'gzip');
  corrupt.fill(0x55, 80, 90); // inside the deflate stream, then a CRC that matches: the bytes arrived as sent, but do not decode
  rechecksum(corrupt);
  const bomb = compressedClientBatch([{ timestamp: 1, key: null, value: Buffer.alloc(8 << 20) }], 'zstd');
  const half = [{ timestamp: 1, key: null, value: Buffer.alloc(700 << 10, 'a') }];
  const answers = await produce(kafka, 9, [
    { topic: 'in', partition: 0, records: corrupt },
    { topic: 'in', partition: 0, records: bomb },
    { topic: 'in', partition: 0, records: clientBatch(makeRecords(1), { attributes: 6 }) },
    { topic: 'in', partition: 1, records: compressedClientBatch(half, 'lz4') },
    { topic: 'in', partition: 1, records: compressedClientBatch(half, 'snappy') },
  ]);
  assert.deepEqual(summary(answers), [
    ['in', 0, 2, -1],
    ['in', 0, 10, -1],
    ['in', 0, 76, -1],
    ['in', 1, 0, 0],
    ['in', 1, 10, -1], // the two together are over the request's 1 MiB
  ]);
  assert.match(answers![0]!.message!, /gzip data does not decode/);
  assert.match(answers![1]!.message!, /zstd records expand past kafka\.maxUncompressedBytes \(1048576 bytes\)/);
  assert.match(answers![2]!.message!, /codec id 6 names no codec/);
  assert.match(answers![4]!.message!, /snappy records expand past what kafka\.maxUncompressedBytes \(1048576 bytes\) leaves of the request: its earlier batches took 7168\d\d bytes/);
  assert.deepEqual(lines.filter((l) => /compressed batch refused/.test(l.msg)).map((l) => [l.problem, l.codec]), [['corrupt', 'gzip'], ['too-large', 'zstd'], ['unsupported', '6'], ['too-large', 'snappy']]);
  assert.deepEqual([log.partition('in', 0).logEndOffset, log.partition('in', 1).logEndOffset], [0, 1]);
  assert.deepEqual(summary(await produce(kafka, 9, [{ topic: 'in', partition: 0, records: compressedClientBatch(makeRecords(2, 'after'), 'gzip') }])), [['in', 0, 0, 0]], 'the same connection goes on');
  assert.deepEqual(values(log.read('in', 0, 0).records), ['after-0', 'after-1']);
});

test('a produce to an internal topic (__tributary_*) gets INVALID_TOPIC_EXCEPTION and nothing is stored', async (t) => {
  const { kafka, log } = await startServer(t);
  await log.createTopic('__tributary_positions', 1);
  const answers = await produce(kafka, 8, [{ topic: '__tributary_positions', partition: 0, records: clientBatch(makeRecords(1, 'forged')) }]);
  assert.deepEqual(summary(answers), [['__tributary_positions', 0, 17, -1]]);
  assert.equal(log.partition('__tributary_positions', 0).logEndOffset, 0);
});
