// Fetch's handling of the memory it serves, on a real socket against a real log: the stored batches
// of an answer are released once the socket has taken them, and what the client gets is still the
// stored bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../../broker/log/log.js';
import type { RawBatch } from '../../../../broker/log/partition.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { Reader } from '../../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../../bridge/kafka/protocol/writer.js';
import { createLogger } from '../../../../bridge/logger.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { RawKafka } from '../../../helpers/raw-kafka.js';
import { tempDir } from '../../../helpers/temp-dir.js';
import { waitFor } from '../../../helpers/wait-for.js';

/** A Fetch v12 request for partition 0 of 'mqtt' from `offset`, at most `maxBytes` (answered at once). */
function fetchV12(offset: number, maxBytes: number): Buffer {
  const w = new Writer().int32(-1).int32(0).int32(0).int32(0x7fffffff).int8(0).int32(0).int32(-1);
  w.array(['mqtt'], true, (w, name) => {
    w.string(name, true);
    w.array([0], true, (w, index) => w.int32(index).int32(-1).int64(offset).int32(-1).int64(-1).int32(maxBytes).taggedFields());
    w.taggedFields();
  });
  return Buffer.concat(w.array([], true, () => undefined).string('', true).taggedFields().chunks());
}

/** The records bytes of partition 0 in a Fetch v12 answer (error 0 checked). */
function recordsOf(frame: Buffer): Buffer {
  const r = new Reader(frame);
  r.int32(); // correlation id
  r.taggedFields();
  r.int32(); // throttle time
  assert.equal(r.int16(), 0);
  r.int32(); // session id
  let records = Buffer.alloc(0);
  r.array(true, (r) => {
    r.string(true);
    r.array(true, (r) => {
      r.int32();
      assert.equal(r.int16(), 0);
      r.int64(); // high watermark
      r.int64(); // last stable offset
      r.int64(); // log start offset
      r.nullableArray(true, (r) => r.int64());
      r.int32(); // preferred read replica
      records = Buffer.from(r.nullableBytes(true)!);
      r.taggedFields();
    });
    r.taggedFields();
  });
  return records;
}

test('Fetch releases the batches it served once the socket has taken them; the client gets the stored bytes, every byte value included', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 1 }] });
  onCleanup(t, () => log.close());
  const everyByte = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
  for (let i = 0; i < 4; i++) await log.append('mqtt', 0, Array.from({ length: 20 }, (_, j) => ({ timestamp: 1_700_000_000_000, key: Buffer.from([0, i, j, 0]), value: everyByte })));
  // What is stored, copied before anything is served.
  const stored = log.readBatches('mqtt', 0, 0).map((b) => Buffer.from(b.bytes));
  assert.equal(stored.length, 4);

  // Every Buffer the log hands to a reader from here on (the handler's reads and its read-ahead).
  const handedOut: Buffer[] = [];
  const readBatches = log.readBatches.bind(log);
  log.readBatches = (...args: Parameters<Log['readBatches']>): RawBatch[] => {
    const batches = readBatches(...args);
    handedOut.push(...batches.map((b) => b.bytes));
    return batches;
  };
  const logger = createLogger('warn', { write: () => undefined });
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 10, clusterId: 'test', log, logger });
  onCleanup(t, () => server.close());
  const kafka = await RawKafka.open(t, server.port);

  // Two batches per answer: the second answer is the range read ahead after the first went out.
  const limit = stored[0]!.length + stored[1]!.length;
  kafka.send(1, 12, fetchV12(0, limit), true);
  assert.deepEqual(recordsOf((await kafka.response())!), Buffer.concat(stored.slice(0, 2)));
  kafka.send(1, 12, fetchV12(stored.length / 2 * 20, limit), true);
  assert.deepEqual(recordsOf((await kafka.response())!), Buffer.concat(stored.slice(2)));
  assert.equal(handedOut.length, 4);
  await waitFor(() => handedOut.every((b) => b.length === 0), 'every served batch released');

  // Released memory is the answer's, not the log's: the same range read again is the stored bytes.
  assert.deepEqual(readBatches('mqtt', 0, 0).map((b) => b.bytes), stored);
  kafka.send(1, 12, fetchV12(0, 0x7fffffff), true);
  assert.deepEqual(recordsOf((await kafka.response())!), Buffer.concat(stored));
});
