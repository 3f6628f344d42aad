// The fast NDJSON path (lines straight from stored batches) must write exactly the lines of the
// general one (decoded records through NdjsonEncoder.encode), for every kind of record and range.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import type { RecordInput } from '../../../broker/log/record-batch.js';
import { BatchLineSource } from '../../../bridge/replay/batch-lines.js';
import { LogSource } from '../../../bridge/replay/log-source.js';
import { NdjsonEncoder } from '../../../bridge/replay/ndjson.js';
import { tempDir } from '../../helpers/temp-dir.js';

function variety(from: number, count: number): RecordInput[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j;
    const values = [
      Buffer.from(JSON.stringify({ i, pretty: true }, null, 2)),
      Buffer.from(`text "quoted" \\ ${i}\n`),
      Buffer.from([0xff, 0x00, i & 0xff]),
      null,
      Buffer.from(''),
      Buffer.from(`héllo ☃ ${i}`),
      Buffer.from(String(i)),
    ];
    return {
      timestamp: 1_700_000_000_000 + i * 3,
      key: i % 4 === 0 ? null : i % 4 === 1 ? Buffer.from([0xc3, 0x28]) : Buffer.from(`k${i % 3}`),
      value: values[i % values.length]!,
      headers: i % 5 === 0 ? [] : [['mqtt.topic', Buffer.from(`a/${i % 3}`)], ['bin', Buffer.from([0x80, i & 0xff])], ['x', null], ['qos', Buffer.from('1')], [i % 2 ? 'odd' : 'even', Buffer.from('v')]],
    };
  });
}

test('lines from stored batches equal lines from decoded records, for any range and key', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), durability: 'write', topics: [{ name: 'mixed', partitions: 1 }] });
  t.after(() => log.close());
  for (let i = 0; i < 3000; i += 137) await log.append('mixed', 0, variety(i, Math.min(137, 3000 - i)));
  const cases: Array<[number, number, Buffer | null, boolean]> = [
    [0, 3000, null, false],
    [1, 2999, null, true],
    [136, 138, null, false],
    [500, 2100, Buffer.from('k1'), false],
    [0, 3000, Buffer.from([0xc3, 0x28]), false],
    [2999, 3000, null, false],
    [7, 7, null, false],
  ];
  for (const [from, to, key, forceBase64] of cases) {
    const range = { partition: 0, from, to };
    const fast: Buffer[] = [];
    const lines = new BatchLineSource(log, 'mixed', range, new NdjsonEncoder('mixed', { forceBase64 }), key);
    for (let c = lines.nextChunk(); c !== null; c = lines.nextChunk()) fast.push(c.bytes);
    const general: Buffer[] = [];
    const source = new LogSource(log, 'mixed', [range], { key, maxRecords: 250 });
    const encoder = new NdjsonEncoder('mixed', { forceBase64 });
    for (let c = source.next(); c !== null; c = source.next()) general.push(encoder.encode(c.partition, c.records));
    const expected = Buffer.concat(general).toString();
    assert.equal(Buffer.concat(fast).toString(), expected, `${from}..${to} key ${key?.toString('hex')} base64 ${forceBase64}`);
    if (to > from && key === null) assert.equal(expected.split('\n').length - 1, to - from);
  }
});
