// The Kafka primitive types, read and written: byte layouts from the protocol guide, written out
// by hand here, so that the reader and the writer are checked against the spec and not only
// against each other.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MalformedRequestError } from '../../../../bridge/kafka/errors.js';
import { Reader } from '../../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../../bridge/kafka/protocol/writer.js';

const bytes = (w: Writer): Buffer => Buffer.concat(w.chunks());

test('unsigned varints: 7 bits a byte, low bits first, high bit = more (as protobuf)', () => {
  const cases: Array<[number, number[]]> = [
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [300, [0xac, 0x02]],
    [16_384, [0x80, 0x80, 0x01]],
    [0xffffffff, [0xff, 0xff, 0xff, 0xff, 0x0f]],
  ];
  for (const [value, encoded] of cases) {
    assert.deepEqual([...bytes(new Writer().uvarint(value))], encoded, `write ${value}`);
    assert.equal(new Reader(Buffer.from(encoded)).uvarint(), value, `read ${value}`);
  }
  // Six bytes, or five with a value over 32 bits: not a 32-bit unsigned varint.
  assert.throws(() => new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).uvarint(), MalformedRequestError);
  assert.throws(() => new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f])).uvarint(), MalformedRequestError);
  assert.throws(() => new Reader(Buffer.from([0x80])).uvarint(), MalformedRequestError);
});

test('strings: int16 length (-1 null) in classic versions, unsigned varint length + 1 (0 null) in flexible ones', () => {
  assert.deepEqual([...bytes(new Writer().string('ab', false))], [0x00, 0x02, 0x61, 0x62]);
  assert.deepEqual([...bytes(new Writer().string('ab', true))], [0x03, 0x61, 0x62]);
  assert.deepEqual([...bytes(new Writer().string(null, false))], [0xff, 0xff]);
  assert.deepEqual([...bytes(new Writer().string(null, true))], [0x00]);
  assert.equal(new Reader(Buffer.from([0x00, 0x02, 0x61, 0x62])).string(false), 'ab');
  assert.equal(new Reader(Buffer.from([0x03, 0x61, 0x62])).string(true), 'ab');
  assert.equal(new Reader(Buffer.from([0xff, 0xff])).nullableString(false), null);
  assert.equal(new Reader(Buffer.from([0x00])).nullableString(true), null);
  assert.throws(() => new Reader(Buffer.from([0x00])).string(true), MalformedRequestError, 'null where not nullable');
  assert.throws(() => new Reader(Buffer.from([0x00, 0x05, 0x61])).string(false), MalformedRequestError, 'length past the end');
  assert.throws(() => new Reader(Buffer.from([0xff, 0xfe])).nullableString(false), MalformedRequestError, 'length -2');
  const long = 'é'.repeat(300); // 600 bytes of UTF-8: a two-byte varint length
  assert.equal(new Reader(bytes(new Writer().string(long, true))).string(true), long);
});

test('arrays: int32 count (-1 null) or unsigned varint count + 1 (0 null); an absurd count is refused before reading', () => {
  const classic = bytes(new Writer().array([1, 2], false, (w, v) => w.int32(v)));
  assert.deepEqual([...classic], [0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
  const compact = bytes(new Writer().array([1, 2], true, (w, v) => w.int16(v)));
  assert.deepEqual([...compact], [0x03, 0, 1, 0, 2]);
  assert.deepEqual(new Reader(classic).array(false, (r) => r.int32()), [1, 2]);
  assert.deepEqual(new Reader(compact).array(true, (r) => r.int16()), [1, 2]);
  assert.equal(new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff])).nullableArray(false, (r) => r.int8()), null);
  let reads = 0;
  assert.throws(() => new Reader(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x00])).array(false, (r) => (reads++, r.int8())), MalformedRequestError);
  assert.equal(reads, 0);
});

test('tagged fields: known tags are handed over with exactly their bytes, unknown ones skipped', () => {
  // Two fields: tag 0 with an int32, tag 7 with 3 bytes nobody knows; then an int8 after the section.
  const encoded = bytes(new Writer().taggedFields([[0, new Writer().int32(42)], [7, new Writer().int8(1).int16(2)]]).int8(9));
  assert.deepEqual([...encoded], [0x02, 0x00, 0x04, 0, 0, 0, 42, 0x07, 0x03, 1, 0, 2, 9]);
  const r = new Reader(encoded);
  const seen: Array<[number, number]> = [];
  r.taggedFields((tag, field) => {
    if (tag === 0) seen.push([tag, field.int32()]);
  });
  assert.deepEqual(seen, [[0, 42]]);
  assert.equal(r.int8(), 9);
  assert.throws(() => new Reader(Buffer.from([0x01, 0x00, 0x09, 0x00])).taggedFields(), MalformedRequestError, 'size past the end');
});

test('int64 beyond 2^53 is refused (offsets and timestamps are safe integers); large byte runs are kept as their own chunk', () => {
  const w = new Writer().int64(-2).int64(Number.MAX_SAFE_INTEGER);
  const r = new Reader(bytes(w));
  assert.equal(r.int64(), -2);
  assert.equal(r.int64(), Number.MAX_SAFE_INTEGER);
  assert.throws(() => new Reader(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).int64(), MalformedRequestError);
  const batch = Buffer.alloc(4096, 7);
  const chunks = new Writer().int32(1).bytes(batch).int8(2).chunks();
  assert.ok(chunks.includes(batch), 'the stored bytes go out as they are, not copied');
});
