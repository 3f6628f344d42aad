import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeRecords, values } from '../../helpers/records.js';

async function openLog(t: import('node:test').TestContext, dataDir = tempDir(t)): Promise<Log> {
  const log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 3 }] });
  t.after(() => log.close());
  return log;
}

test('appends get dense offsets from 0 and read back unchanged', async (t) => {
  const log = await openLog(t);
  const first = await log.append('telemetry', 1, makeRecords(3, 'a'));
  const second = await log.append('telemetry', 1, makeRecords(2, 'b'));
  assert.deepEqual([first.baseOffset, first.lastOffset, second.baseOffset, second.lastOffset], [0, 2, 3, 4]);
  const read = log.read('telemetry', 1, 0);
  assert.deepEqual(values(read.records), ['a-0', 'a-1', 'a-2', 'b-0', 'b-1']);
  assert.deepEqual(read.records.map((r) => r.offset), [0, 1, 2, 3, 4]);
  assert.equal(read.nextOffset, 5);
  assert.equal(read.records[3]!.key!.toString(), 'key-0');
  assert.deepEqual(read.records[4]!.headers.map(([n, v]) => [n, v?.toString()]), [['mqtt.topic', 'sensors/1']]);
  assert.equal(read.records[1]!.timestamp, 1_700_000_000_001);
  // other partitions are independent
  assert.equal(log.partition('telemetry', 0).logEndOffset, 0);
});

test('reads honour a start inside a batch, max records and max bytes', async (t) => {
  const log = await openLog(t);
  await log.append('telemetry', 0, makeRecords(10, 'x'));
  await log.append('telemetry', 0, makeRecords(10, 'y'));
  assert.deepEqual(values(log.read('telemetry', 0, 8, { maxRecords: 4 }).records), ['x-8', 'x-9', 'y-0', 'y-1']);
  const small = log.read('telemetry', 0, 0, { maxBytes: 1 });
  assert.equal(small.records.length, 1, 'at least one record even when it exceeds maxBytes');
  assert.equal(small.nextOffset, 1);
  const atEnd = log.read('telemetry', 0, 20);
  assert.deepEqual(atEnd.records, []);
  assert.equal(atEnd.nextOffset, 20);
  // wholeBatches: maxRecords is reached at the end of a stored batch; maxBytes still cuts inside one.
  const whole = log.read('telemetry', 0, 8, { maxRecords: 4, wholeBatches: true });
  assert.deepEqual(values(whole.records), ['x-8', 'x-9', ...Array.from({ length: 10 }, (_, i) => `y-${i}`)]);
  assert.equal(whole.nextOffset, 20);
  assert.deepEqual(values(log.read('telemetry', 0, 3, { maxRecords: 2, wholeBatches: true }).records), Array.from({ length: 7 }, (_, i) => `x-${i + 3}`));
  assert.equal(log.read('telemetry', 0, 0, { maxRecords: 4, maxBytes: 1, wholeBatches: true }).records.length, 1);
  assert.deepEqual(log.read('telemetry', 0, 0, { maxRecords: 0, wholeBatches: true }).records, []);
});

test('concurrent appends resolve in submission order with contiguous offsets', async (t) => {
  const log = await openLog(t);
  const order: number[] = [];
  const appends = Array.from({ length: 200 }, (_, i) =>
    log.append('telemetry', i % 3, makeRecords(1 + (i % 4), `c${i}`)).then((info) => {
      order.push(i);
      return info;
    }),
  );
  const infos = await Promise.all(appends);
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
  for (let p = 0; p < 3; p++) {
    const mine = infos.filter((info) => info.partition === p);
    for (let i = 1; i < mine.length; i++) assert.equal(mine[i]!.baseOffset, mine[i - 1]!.lastOffset + 1);
    const all = log.read('telemetry', p, 0, { maxRecords: 10_000 }).records;
    assert.deepEqual(all.map((r) => r.offset), all.map((_, i) => i));
  }
});

test('earliest, latest and offset for a timestamp', async (t) => {
  const log = await openLog(t);
  await log.append('telemetry', 2, makeRecords(5, 'a', 1000)); // timestamps 1000..1004
  await log.append('telemetry', 2, makeRecords(5, 'b', 2000)); // 2000..2004
  const p = log.partition('telemetry', 2);
  assert.equal(p.logStartOffset, 0);
  assert.equal(p.logEndOffset, 10);
  assert.equal(log.offsetForTimestamp('telemetry', 2, 0), 0);
  assert.equal(log.offsetForTimestamp('telemetry', 2, 1003), 3);
  assert.equal(log.offsetForTimestamp('telemetry', 2, 1500), 5);
  assert.equal(log.offsetForTimestamp('telemetry', 2, 2004), 9);
  assert.equal(log.offsetForTimestamp('telemetry', 2, 2005), null);
});

test('offset for a timestamp when clocks go backwards', async (t) => {
  const log = await openLog(t);
  await log.append('telemetry', 0, makeRecords(2, 'a', 5000)); // 5000, 5001
  await log.append('telemetry', 0, makeRecords(2, 'b', 3000)); // 3000, 3001: clock stepped back
  await log.append('telemetry', 0, makeRecords(2, 'c', 6000));
  // Kafka's rule: the earliest offset whose timestamp is >= T.
  assert.equal(log.offsetForTimestamp('telemetry', 0, 3001), 0);
  assert.equal(log.offsetForTimestamp('telemetry', 0, 5001), 1);
  assert.equal(log.offsetForTimestamp('telemetry', 0, 5500), 4);
});

test('out-of-range reads and unknown topics fail with typed errors naming the valid range', async (t) => {
  const log = await openLog(t);
  await log.append('telemetry', 0, makeRecords(4));
  assert.throws(() => log.read('telemetry', 0, 5), (err: any) => {
    assert.equal(err.code, 'TRIB_OFFSET_OUT_OF_RANGE');
    assert.match(err.message, /telemetry-0.*0\.\.4/);
    return true;
  });
  assert.throws(() => log.read('telemetry', 0, -1), { code: 'TRIB_OFFSET_OUT_OF_RANGE' });
  assert.throws(() => log.read('nope', 0, 0), { code: 'TRIB_UNKNOWN_TOPIC' });
  assert.throws(() => log.read('telemetry', 3, 0), { code: 'TRIB_UNKNOWN_PARTITION', message: /0\.\.2/ });
  await assert.rejects(log.append('telemetry', 0, []), { code: 'TRIB_INVALID_RECORD' });
  await assert.rejects(log.createTopic('bad/name', 1), { code: 'TRIB_INVALID_RECORD' });
});

test('data and offsets survive a close and reopen; topics can grow but never shrink', async (t) => {
  const dataDir = tempDir(t);
  const first = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 2 }] });
  await first.append('telemetry', 1, makeRecords(3, 'before'));
  await first.close();
  await first.close(); // idempotent
  await assert.rejects(first.append('telemetry', 1, makeRecords(1)), { code: 'TRIB_LOG_CLOSED' });

  const second = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 4 }] });
  t.after(() => second.close());
  assert.equal(second.recovery, null, 'a clean stop needs no recovery');
  assert.equal(second.partitionCount('telemetry'), 4);
  const next = await second.append('telemetry', 1, makeRecords(1, 'after'));
  assert.equal(next.baseOffset, 3);
  assert.deepEqual(values(second.read('telemetry', 1, 0).records), ['before-0', 'before-1', 'before-2', 'after-0']);
  await assert.rejects(second.createTopic('telemetry', 2), { code: 'TRIB_TOPIC_CONFLICT' });
});

test('a second process cannot open the same data directory', async (t) => {
  const dataDir = tempDir(t);
  const log = await openLog(t, dataDir);
  void log;
  // Same process, so fake another live owner: pid 1 always exists.
  const { writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  await log.close();
  writeFileSync(join(dataDir, 'tributary.lock'), '1\n');
  await assert.rejects(Log.open({ dataDir }), { code: 'TRIB_DATA_DIR_LOCKED', message: /pid 1/ });
  rmSync(join(dataDir, 'tributary.lock'));
  // a lock left by a dead process is taken over
  writeFileSync(join(dataDir, 'tributary.lock'), '999999999\n');
  const reopened = await Log.open({ dataDir });
  await reopened.close();
});

test('reads running while appends commit only ever see whole batches', async (t) => {
  const log = await openLog(t);
  const batchSize = 25;
  let reads = 0;
  let writing = true;
  const reader = (async () => {
    while (writing) {
      const result = log.read('telemetry', 0, 0, { maxRecords: 1_000_000, maxBytes: 1e9 });
      assert.equal(result.records.length % batchSize, 0, 'a read saw part of a batch');
      result.records.forEach((r, i) => assert.equal(r.value!.toString(), `b${Math.floor(i / batchSize)}-${i % batchSize}`));
      reads++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  for (let b = 0; b < 200; b++) {
    const records = Array.from({ length: batchSize }, (_, i) => ({ timestamp: Date.now(), key: null, value: Buffer.from(`b${b}-${i}`) }));
    await log.append('telemetry', 0, records);
  }
  writing = false;
  await reader;
  assert.ok(reads > 10, `only ${reads} reads overlapped the appends`);
});

test('an append with an idempotence key is stored once while the key is held, also after a restart', async (t) => {
  const dataDir = tempDir(t);
  const key = { producer: 'sensor-7', sequence: 42 };
  let log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 1 }] });
  // The same key twice in one group commit, then once more on its own.
  const [first, sameGroup] = await Promise.all([
    log.append('telemetry', 0, makeRecords(1, 'a'), { idempotenceKey: key }),
    log.append('telemetry', 0, makeRecords(1, 'a-again'), { idempotenceKey: key }),
  ]);
  const later = await log.append('telemetry', 0, makeRecords(1, 'a-later'), { idempotenceKey: key });
  assert.deepEqual([first.duplicate, sameGroup.duplicate, later.duplicate], [false, true, true]);
  assert.deepEqual([sameGroup.baseOffset, later.baseOffset], [first.baseOffset, first.baseOffset]);
  await log.close();

  log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 1 }] });
  t.after(() => log.close());
  assert.equal((await log.append('telemetry', 0, makeRecords(1, 'after-restart'), { idempotenceKey: key })).duplicate, true);
  assert.equal(await log.releaseIdempotenceKeys('sensor-7', 42), 1);
  const reused = await log.append('telemetry', 0, makeRecords(1, 'b'), { idempotenceKey: key });
  assert.equal(reused.duplicate, false, 'a released key is a new message');
  await log.append('telemetry', 0, makeRecords(1, 'c'), { idempotenceKey: { producer: 'sensor-7', sequence: 43 } });
  assert.equal(await log.releaseIdempotenceKeys('sensor-7'), 2, 'releasing a producer releases all its keys');
  assert.deepEqual(values(log.read('telemetry', 0, 0).records), ['a-0', 'b-0', 'c-0']);
});
