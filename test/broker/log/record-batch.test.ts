// The codec is checked against an independent implementation: @platformatic/kafka's own
// RecordBatch v2 writer and reader (the Kafka client the forwarder uses), not only against
// round trips of our encoder.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Reader, createRecordsBatch, crc32c as theirCrc32c, readRecordsBatch } from '@platformatic/kafka';
import { crc32c } from '../../../broker/log/crc32c.js';
import { BatchFormatError, RecordView, decodeBatch, encodeBatch, scanBatch, type LogRecord, type RecordHeader, type RecordInput } from '../../../broker/log/record-batch.js';
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

// decodeBatch (records as objects) and scanBatch (field positions in a reused view) must judge a
// batch the same way: the same records from a good one, the same BatchFormatError from a bad one.

function varintBytes(n: number): Buffer {
  const b = new Uint8Array(10);
  return Buffer.from(b.subarray(0, writeVarint(b, 0, n)));
}

/** One record: its length, then the attributes byte and `fields`. */
function rawRecord(...fields: Array<number | Buffer>): Buffer {
  const body = Buffer.concat([Buffer.from([0]), ...fields.map((f) => (typeof f === 'number' ? varintBytes(f) : f))]);
  return Buffer.concat([varintBytes(body.length), body]);
}

/** A batch around hand-made record bytes, with a valid CRC so that the records are what is judged. */
function rawBatch(records: Buffer, options: { count?: number; lastOffsetDelta?: number; attributes?: number } = {}): Buffer {
  const buf = Buffer.concat([Buffer.alloc(61), records]);
  buf.writeBigInt64BE(100n, 0);
  buf.writeInt32BE(buf.length - 12, 8);
  buf.writeInt8(2, 16);
  buf.writeInt16BE(options.attributes ?? 0, 21);
  buf.writeInt32BE(options.lastOffsetDelta ?? 0, 23);
  buf.writeBigInt64BE(1_700_000_000_000n, 27);
  buf.writeBigInt64BE(1_700_000_000_000n, 35);
  buf.writeInt32BE(options.count ?? 1, 57);
  buf.writeUInt32BE(crc32c(buf, 21), 17);
  return buf;
}

type Outcome = { records: LogRecord[] } | { error: string };

function decoded(buf: Buffer): Outcome {
  try {
    return { records: decodeBatch(buf).records };
  } catch (err) {
    assert.ok(err instanceof BatchFormatError, `decodeBatch threw ${(err as Error).name}: ${(err as Error).message}`);
    return { error: err.message };
  }
}

function scanned(buf: Buffer): Outcome {
  const records: LogRecord[] = [];
  const field = (start: number, length: number): Buffer | null => (length === -1 ? null : buf.subarray(start, start + length));
  try {
    scanBatch(buf, new RecordView(), (v) => {
      const headers: RecordHeader[] = [];
      for (let h = 0; h < v.headerCount; h++) {
        headers.push([buf.toString('utf8', v.headerNameStart[h]!, v.headerNameStart[h]! + v.headerNameLength[h]!), field(v.headerValueStart[h]!, v.headerValueLength[h]!)]);
      }
      records.push({ offset: v.offset, timestamp: v.timestamp, key: field(v.keyStart, v.keyLength), value: field(v.valueStart, v.valueLength), headers });
    });
    return { records };
  } catch (err) {
    assert.ok(err instanceof BatchFormatError, `scanBatch threw ${(err as Error).name}: ${(err as Error).message}`);
    return { error: err.message };
  }
}

const value = Buffer.from('v');
const goodRecord = rawRecord(0, 0, -1, 1, value, 0);

test('each record fault gets the same error from decodeBatch and scanBatch', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['compressed', rawBatch(goodRecord, { attributes: 1 }), /^compressed batches \(codec 1\) are not stored by this log$/],
    ['negative count', rawBatch(goodRecord, { count: -1 }), /^negative record count -1 or last offset delta 0$/],
    ['length past the batch', rawBatch(Buffer.concat([varintBytes(40), goodRecord.subarray(1)])), /^record length 40 runs past the batch$/],
    ['length zero', rawBatch(Buffer.concat([varintBytes(0), goodRecord.subarray(1)])), /^record length 0 runs past the batch$/],
    ['offset delta too big', rawBatch(rawRecord(0, 3, -1, 1, value, 0)), /^offset delta 3 outside 0\.\.0$/],
    ['negative offset delta', rawBatch(rawRecord(0, -1, -1, 1, value, 0)), /^offset delta -1 outside 0\.\.0$/],
    ['key past its record', rawBatch(rawRecord(0, 0, 9, 1, value, 0)), /^a field of 9 bytes runs past its record$/],
    ['negative value length', rawBatch(rawRecord(0, 0, -1, -2, value, 0)), /^a field of -2 bytes runs past its record$/],
    ['impossible header count', rawBatch(rawRecord(0, 0, -1, 1, value, 5)), /^header count 5 is impossible$/],
    ['negative header count', rawBatch(rawRecord(0, 0, -1, 1, value, -1)), /^header count -1 is impossible$/],
    ['null header name', rawBatch(rawRecord(0, 0, -1, 1, value, 1, -1, -1)), /^a header has a null name$/],
    ['header name past its record', rawBatch(rawRecord(0, 0, -1, 1, value, 1, 4, Buffer.from('ab'))), /^a field of 4 bytes runs past its record$/],
    ['header value past its record', rawBatch(rawRecord(0, 0, -1, 1, value, 1, 1, Buffer.from('h'), 7)), /^a field of 7 bytes runs past its record$/],
    ['stray bytes', rawBatch(rawRecord(0, 0, -1, 1, value, 0, Buffer.from('xy'))), /^record at delta 0 has 2 stray bytes$/],
    ['bytes after the records', rawBatch(Buffer.concat([goodRecord, Buffer.from('zzzzzzz')])), /^7 bytes left over after 1 records$/],
    ['varint cut by its record', rawBatch(Buffer.concat([varintBytes(6), Buffer.from([0, 0, 0, 1, 0x80, 0x80]), goodRecord]), { count: 2 }), /^record data is malformed: varint runs past the end of its record$/],
    ['varint of 11 bytes', rawBatch(rawRecord(Buffer.alloc(11, 0x80))), /^record data is malformed: varint longer than 10 bytes$/],
    ['fewer records than counted', rawBatch(Buffer.concat([goodRecord, goodRecord, Buffer.alloc(5, 0x80)]), { count: 3 }), /^record data is malformed: varint runs past the end of its record$/],
  ];
  for (const [name, buf, expected] of cases) {
    const byDecode = decoded(buf);
    const byScan = scanned(buf);
    assert.ok('error' in byDecode && 'error' in byScan, `${name}: ${JSON.stringify([byDecode, byScan])}`);
    assert.match(byDecode.error, expected, `${name} (decodeBatch)`);
    assert.equal(byScan.error, byDecode.error, `${name} (scanBatch)`);
  }
  // The hand-made batch itself is good, with both.
  assert.deepEqual(scanned(rawBatch(goodRecord)), decoded(rawBatch(goodRecord)));
  assert.deepEqual(decoded(rawBatch(goodRecord)), { records: [{ offset: 100, timestamp: 1_700_000_000_000, key: null, value, headers: [] }] });
});

test('damaged record bytes under a valid CRC: decodeBatch and scanBatch return the same records or the same error', () => {
  // A seeded generator, so that a failure can be replayed.
  let seed = 0x5eed;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return (seed >>> 8) % n;
  };
  const good = encodeBatch(sampleRecords().map((r) => ({ ...r, value: r.value === null ? null : r.value.subarray(0, 40) })));
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.from(good);
    for (let n = 1 + next(3); n > 0; n--) buf[61 + next(buf.length - 61)] = next(4) === 0 ? 0x80 | next(128) : next(256);
    if (next(8) === 0) buf.writeInt32BE(next(6), 57); // record count
    if (next(8) === 0) buf.writeInt32BE(next(6), 23); // last offset delta
    buf.writeUInt32BE(crc32c(buf, 21), 17);
    const byDecode = decoded(buf);
    assert.deepEqual(scanned(buf), byDecode, `case ${i}`);
    seen.add('error' in byDecode ? byDecode.error.replace(/-?\d+/g, 'N') : 'records');
  }
  // The damage reaches more than the first check.
  assert.ok(seen.size >= 6, [...seen].join('\n'));
});

test("scanBatch passes its visitor's own error on unchanged: a failing reader of good bytes is not a corrupt batch", () => {
  const failure = new TypeError('the visitor failed');
  let visited = 0;
  assert.throws(
    () =>
      scanBatch(encodeBatch(sampleRecords()), new RecordView(), () => {
        if (++visited === 2) throw failure;
      }),
    (err: unknown) => err === failure,
  );
  assert.equal(visited, 2);
});
