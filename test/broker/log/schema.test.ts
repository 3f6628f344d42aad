import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Log } from '../../../broker/log/log.js';
import { CACHE_KIB, SCHEMA_VERSION, openDatabase } from '../../../broker/log/schema.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeRecords, values } from '../../helpers/records.js';

test('a data directory of schema version 1 (no leader_epochs) opens, and its epoch cache is filled from its batches', async (t) => {
  const dataDir = tempDir(t);
  const made = await Log.open({ dataDir, topics: [{ name: 'old', partitions: 2 }] });
  await made.append('old', 0, makeRecords(3, 'a'));
  made.becomeLeader('old', 0, 4);
  await made.append('old', 0, makeRecords(2, 'b'));
  await made.append('old', 1, makeRecords(1, 'c'));
  await made.close(); // clean: no recovery pass on the next open to rebuild the cache for us
  // Turn it into what version 1 wrote: the same tables without leader_epochs.
  const db = new Database(join(dataDir, 'log.db'));
  db.exec(`DROP TABLE leader_epochs; UPDATE meta SET value = '1' WHERE key = 'schema_version'`);
  db.close();

  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  assert.equal(log.recovery, null, 'opened as a clean log');
  assert.deepEqual(log.epochStartOffsets('old', 0), [{ epoch: 0, startOffset: 0 }, { epoch: 4, startOffset: 3 }]);
  assert.deepEqual(log.epochStartOffsets('old', 1), [{ epoch: 0, startOffset: 0 }]);
  assert.equal(log.currentLeaderEpoch('old', 0), 4);
  assert.deepEqual(values(log.read('old', 0, 0).records), ['a-0', 'a-1', 'a-2', 'b-0', 'b-1']);
  const check = new Database(join(dataDir, 'log.db'), { readonly: true });
  t.after(() => check.close());
  assert.equal(check.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get(), String(SCHEMA_VERSION));
});

test("the log's connections, the writer's and a reader's, keep a page cache of CACHE_KIB, not the 16 MB better-sqlite3 builds SQLite with", (t) => {
  const file = join(tempDir(t), 'log.db');
  const writer = openDatabase(file, { readonly: false });
  t.after(() => writer.close());
  const reader = openDatabase(file, { readonly: true });
  t.after(() => reader.close());
  assert.equal(CACHE_KIB, 2048);
  // A negative cache_size is in KiB (https://sqlite.org/pragma.html#pragma_cache_size).
  assert.equal(writer.pragma('cache_size', { simple: true }), -CACHE_KIB);
  assert.equal(reader.pragma('cache_size', { simple: true }), -CACHE_KIB);
  const plain = new Database(file, { readonly: true });
  t.after(() => plain.close());
  assert.equal(plain.pragma('cache_size', { simple: true }), -16000);
});
