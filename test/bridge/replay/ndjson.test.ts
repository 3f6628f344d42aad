import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogRecord } from '../../../broker/log/record-batch.js';
import { createEncoder } from '../../../bridge/replay/formats.js';
import { NdjsonEncoder } from '../../../bridge/replay/ndjson.js';
import { decodeLine, LinePositionReader } from '../../../bridge/replay/ndjson-decode.js';

function record(offset: number, value: Buffer | null, key: Buffer | null = Buffer.from('k'), headers: LogRecord['headers'] = []): LogRecord {
  return { offset, timestamp: 1_700_000_000_000 + offset, key, value, headers };
}

function lines(buf: Buffer): Array<Record<string, unknown>> {
  const text = buf.toString('utf8');
  assert.ok(text.endsWith('\n'));
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a value is embedded JSON, a string, base64 or null, and valueEncoding says which', () => {
  const enc = new NdjsonEncoder('tele"metry');
  const out = lines(
    enc.encode(3, [
      record(0, Buffer.from('{"temp": 21.5, "ok": true}')),
      record(1, Buffer.from('"a JSON string"')),
      record(2, Buffer.from('21.5')),
      record(3, Buffer.from('hello, "world"\n\ttab')),
      record(4, Buffer.from([0xff, 0x00, 0x0a])),
      record(5, null),
      record(6, Buffer.from('{"broken": ')),
      record(7, Buffer.from('  ')),
      record(8, Buffer.from('')),
    ]),
  );
  assert.deepEqual(
    out.map((l) => [l.value, l.valueEncoding]),
    [
      [{ temp: 21.5, ok: true }, 'json'],
      ['a JSON string', 'json'],
      [21.5, 'json'],
      ['hello, "world"\n\ttab', 'string'],
      [Buffer.from([0xff, 0x00, 0x0a]).toString('base64'), 'base64'],
      [null, null],
      ['{"broken": ', 'string'],
      ['  ', 'string'],
      ['', 'string'],
    ],
  );
  assert.equal(out[0]!.topic, 'tele"metry');
  assert.equal(out[0]!.partition, 3);
  assert.equal(out[2]!.offset, 2);
  assert.equal(out[2]!.timestamp, 1_700_000_000_002);
});

test('pretty-printed JSON stays one line and the same value', () => {
  const pretty = JSON.stringify({ a: [1, 2, { b: 'x\ny' }], c: null }, null, 2).replaceAll('\n', '\r\n');
  const buf = new NdjsonEncoder('t').encode(0, [record(0, Buffer.from(pretty))]);
  assert.equal(buf.toString().split('\n').length, 2);
  const [line] = lines(buf);
  assert.deepEqual(line!.value, { a: [1, 2, { b: 'x\ny' }], c: null });
});

test('keys and header values: a string when UTF-8, {"base64"} when not, null when null', () => {
  const [a, b] = lines(
    new NdjsonEncoder('t').encode(0, [
      record(0, null, Buffer.from('sensor "1"'), [['mqtt.topic', Buffer.from('site/1')], ['mqtt.qos', Buffer.from('1')], ['bin', Buffer.from([0x80])], ['empty', null], ['one', Buffer.from([0x01])]]),
      record(1, null, Buffer.from([0xc3, 0x28]), []),
    ]),
  );
  assert.equal(a!.key, 'sensor "1"');
  assert.deepEqual(a!.headers, [['mqtt.topic', 'site/1'], ['mqtt.qos', '1'], ['bin', { base64: 'gA==' }], ['empty', null], ['one', '\u0001']]);
  assert.deepEqual(b!.key, { base64: Buffer.from([0xc3, 0x28]).toString('base64') });
  assert.equal(lines(new NdjsonEncoder('t').encode(0, [record(0, null, null)]))[0]!.key, null);
});

test('forceBase64 gives every value as base64; decodeLine rebuilds every byte', () => {
  const records = [record(10, Buffer.from('{"x":1.0}')), record(11, Buffer.from('text')), record(12, Buffer.from([0, 255])), record(13, null, null, [['h', Buffer.from([0x80])]])];
  const buf = new NdjsonEncoder('t', { forceBase64: true }).encode(2, records);
  const decoded = buf.toString().trimEnd().split('\n').map(decodeLine);
  assert.deepEqual(decoded.map((d) => d.partition), [2, 2, 2, 2]);
  assert.deepEqual(decoded.map((d) => d.record), records);
  assert.ok(lines(buf).every((l) => l.valueEncoding === 'base64' || l.value === null));
});

test('LinePositionReader reads partition and offset at the start of each line', () => {
  const enc = new NdjsonEncoder('tópic');
  const buf = Buffer.concat([enc.encode(0, [record(7, Buffer.from('x'))]), enc.encode(12, [record(123456789012, Buffer.from('y'))])]);
  const reader = new LinePositionReader('tópic');
  assert.deepEqual(reader.read(buf, 0), [0, 7]);
  assert.deepEqual(reader.read(buf, buf.indexOf(0x0a) + 1), [12, 123456789012]);
});

test('CSV quotes what needs quoting and names each encoding', () => {
  const csv = createEncoder('csv', 't');
  const body = Buffer.concat([csv.head, csv.encode(1, [record(0, Buffer.from('a,"b"\nc'), Buffer.from('k')), record(1, Buffer.from([0xff]), null)])]).toString();
  const rows = body.split('\r\n');
  assert.equal(rows[0], 'topic,partition,offset,timestamp,time,key,key_encoding,value,value_encoding,headers');
  assert.match(rows[1]!, /^t,1,0,1700000000000,2023-11-14T22:13:20\.000Z,k,string,"a,""b""\nc",string,\[\]$/);
  assert.match(rows[2]!, /^t,1,1,1700000000001,[^,]+,,,\/w==,base64,\[\]$/);
});
