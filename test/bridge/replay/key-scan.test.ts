// A --key scan for a rare key is many short steps, not one long synchronous scan: each call of the
// sources scans a bounded number of records and may return an empty chunk carrying its position.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { BatchLineSource } from '../../../bridge/replay/batch-lines.js';
import { LogSource } from '../../../bridge/replay/log-source.js';
import { NdjsonEncoder } from '../../../bridge/replay/ndjson.js';
import { tempDir } from '../../helpers/temp-dir.js';

const TOTAL = 60_000;

test('a rare key: bounded steps with advancing positions, then the one match', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), durability: 'write', topics: [{ name: 'm', partitions: 2 }] });
  t.after(() => log.close());
  for (const partition of [0, 1]) {
    for (let i = 0; i < TOTAL; i += 2000) {
      await log.append('m', partition, Array.from({ length: 2000 }, (_, j) => ({ timestamp: 1_700_000_000_000 + i + j, key: Buffer.from(i + j === TOTAL - 1 ? 'rare' : 'common'), value: Buffer.alloc(100, 0x61), headers: [] })));
    }
  }
  const key = Buffer.from('rare');
  for (const ranges of [[{ partition: 0, from: 0, to: TOTAL }], [{ partition: 0, from: 0, to: TOTAL }, { partition: 1, from: 0, to: TOTAL }]]) {
    const source = new LogSource(log, 'm', ranges, { key, maxRecords: 2000 });
    const steps: Array<{ matched: number; nextOffset: number }> = [];
    for (let c = source.next(); c !== null; c = source.next()) steps.push({ matched: c.records.length, nextOffset: c.nextOffset });
    assert.ok(steps.length >= (TOTAL * ranges.length) / 2000 - 1, `${ranges.length} partition(s): ${steps.length} steps`);
    assert.equal(steps.reduce((n, s) => n + s.matched, 0), ranges.length);
    assert.equal(steps[0]!.matched, 0, 'the first step comes back before the match');
  }
  const lines = new BatchLineSource(log, 'm', { partition: 0, from: 0, to: TOTAL }, new NdjsonEncoder('m', {}), key);
  const steps: Array<{ bytes: number; nextOffset: number }> = [];
  for (let c = lines.nextChunk(); c !== null; c = lines.nextChunk()) steps.push({ bytes: c.bytes.length, nextOffset: c.nextOffset });
  assert.ok(steps.length > 1, `${steps.length} steps`);
  assert.equal(steps[0]!.bytes, 0);
  assert.ok(steps[0]!.nextOffset > 0 && steps[0]!.nextOffset < TOTAL);
  assert.equal(steps.filter((s) => s.bytes > 0).length, 1);
  assert.equal(steps.at(-1)!.nextOffset, TOTAL);
});
