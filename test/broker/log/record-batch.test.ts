// The codec is checked against an independent implementation: @platformatic/kafka's own
// RecordBatch v2 writer and reader (the Kafka client the forwarder uses), not only against
// round trips of our encoder.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Reader, createRecordsBatch, crc32c as theirCrc32c, readRecordsBatch } from '@platformatic/kafka';
import { crc32c } from '../../../broker/log/crc32c.js';
import { BatchFormatError, decodeBatch, encodeBatch, type RecordInput } from '../../../broker/log/record-batch.js';
import { VarintReader, varintSize, writeVarint } from '../../../broker/log/varint.js';

function sampleRecords(): RecordInput[] {
  return [
    { timestamp: 1_700_000_000_000, key: Buffer.from('sensor-1'), value: Buffer.from('{"t":21.5}'), headers: [['mqtt.topic', Buffer.from('factory/a/1')]] },
    { timestamp: 1_700_000_000_250, key: null, value: Buffer.alloc(0), headers: [] },
    { timestamp: 1_700_000_003_000, key: Buffer.from('k'), value: randomBytes(300), headers: [['ünïcode-名前', Buffer.from('v')], ['dup', Buffer.from('1')], ['dup', Buffer.from('2')]] },
    { timestamp: 1_700_000_000_001, key: randomBytes(200), value: randomBytes(70_000), headers: [['empty', Buffer.alloc(0)]] },
  ];
}

test('CRC-32C matches the standard check value and the Kafka client', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  for (const size of [0, 1, 7, 8, 9, 63, 1000, 65_537]) {
    const bytes = randomBytes(size);
    assert.equal(crc32c(bytes), theirCrc32c(bytes) >>> 0, `size ${size}`);
  }
});

test('varints round-trip at every width boundary, including negatives', () => {
  const values = [0, 1, -1, 63, -64, 64, -65, 8191, 8192, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER >> 1];
  for (const v of values) {
    const buf = new Uint8Array(10);
    const end = writeVarint(buf, 0, v);
    assert.equal(end, varintSize(v), `size of ${v}`);
    assert.equal(new VarintReader(buf, 0, end).varint(), v);
  }
  assert.throws(() => new VarintReader(new Uint8Array([0x80, 0x80]), 0, 2).varint(), RangeError);
});

test('batches we encode are read by the Kafka client unchanged', () => {
  const records = sampleRecords();
  const buf = encodeBatch(records, { baseOffset: 42 });
  const theirs = readRecordsBatch(Reader.from(buf));
  assert.equal(theirs.firstOffset, 42n);
  assert.equal(theirs.magic, 2);
  assert.equal(theirs.length + 12, buf.length);
  assert.equal(theirs.crc >>> 0, theirCrc32c(buf.subarray(21)) >>> 0, 'stored CRC is what the client computes');
  assert.equal(theirs.lastOffsetDelta, records.length - 1);
  assert.equal(theirs.records.length, records.length);
  const first = Math.min(...records.map((r) => r.timestamp));
  assert.equal(theirs.firstTimestamp, BigInt(first));
  assert.equal(theirs.maxTimestamp, BigInt(Math.max(...records.map((r) => r.timestamp))));
  theirs.records.forEach((rec, i) => {
    const mine = records[i]!;
    assert.equal(rec.offsetDelta, i);
    assert.equal(Number(rec.timestampDelta) + first, mine.timestamp);
    assert.deepEqual(rec.key === null ? null : Buffer.from(rec.key), mine.key);
    assert.deepEqual(Buffer.from(rec.value ?? Buffer.alloc(0)), mine.value);
    assert.deepEqual(
      rec.headers.map(([n, v]) => [n?.toString('utf8'), v === null ? null : Buffer.from(v)]),
      (mine.headers ?? []).map(([n, v]) => [n, v]),
    );
  });
});

test('batches the Kafka client encodes decode to the same records', () => {
  const messages = [
    { topic: 't', key: Buffer.from('a'), value: Buffer.from('one'), timestamp: 1_700_000_000_000n, headers: new Map([[Buffer.from('h'), Buffer.from('x')]]) },
    { topic: 't', value: Buffer.from('two'), timestamp: 1_699_999_999_000n },
    { topic: 't', key: Buffer.from('c'), value: randomBytes(5000), timestamp: 1_700_000_009_999n },
  ];
  const buf = createRecordsBatch(messages.map((m) => ({ ...m })), { partitionLeaderEpoch: 7 }).buffer;
  const batch = decodeBatch(buf);
  assert.equal(batch.partitionLeaderEpoch, 7);
  assert.equal(batch.records.length, 3);
  assert.deepEqual(batch.records.map((r) => r.offset), [0, 1, 2]);
  assert.deepEqual(batch.records.map((r) => r.timestamp), messages.map((m) => Number(m.timestamp)));
  assert.deepEqual(batch.records.map((r) => r.value), messages.map((m) => m.value));
  assert.equal(batch.records[0]!.key!.toString(), 'a');
  assert.equal(batch.records[1]!.key, null);
  assert.deepEqual(batch.records[0]!.headers.map(([n, v]) => [n, v?.toString()]), [['h', 'x']]);
});

test('every single-byte change inside the checksummed region is caught', () => {
  const buf = encodeBatch(sampleRecords().slice(0, 3));
  for (let pos = 21; pos < buf.length; pos++) {
    const copy = Buffer.from(buf);
    copy[pos] = copy[pos]! ^ (1 + (pos % 255));
    assert.throws(() => decodeBatch(copy), BatchFormatError, `flip at ${pos} went unnoticed`);
  }
});

test('damaged headers, truncation and random bytes fail with BatchFormatError, never anything else', () => {
  const buf = encodeBatch(sampleRecords().slice(0, 2));
  const bad = Buffer.from(buf);
  bad.writeInt8(1, 16); // magic
  assert.throws(() => decodeBatch(bad), /magic byte is 1/);
  assert.throws(() => decodeBatch(buf.subarray(0, buf.length - 1)), /batch length field/);
  assert.throws(() => decodeBatch(buf.subarray(0, 30)), /shorter than/);
  for (let i = 0; i < 2000; i++) {
    const junk = randomBytes(61 + (i % 200));
    junk.writeInt32BE(junk.length - 12, 8);
    junk.writeInt8(2, 16);
    if (i % 2 === 0) junk.writeUInt32BE(crc32c(junk, 21), 17); // a valid CRC over garbage records
    try {
      decodeBatch(junk);
    } catch (err) {
      assert.ok(err instanceof BatchFormatError, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
});

test('an impossible record count is refused before anything is allocated', () => {
  const buf = encodeBatch(sampleRecords().slice(0, 1));
  buf.writeInt32BE(2 ** 31 - 1, 57);
  buf.writeUInt32BE(crc32c(buf, 21), 17);
  assert.throws(() => decodeBatch(buf), /record count 2147483647 cannot fit/);
});
