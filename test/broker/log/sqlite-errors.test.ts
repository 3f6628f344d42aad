// SQLite's own errors, raised by a real damaged file, mapped to the log's typed errors.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { LogDamagedError } from '../../../broker/errors.js';
import { Log } from '../../../broker/log/log.js';
import { isSqliteCorruption, toWriteError } from '../../../broker/log/sqlite-errors.js';
import { damageBatchesLeaf } from '../../helpers/damaged-page.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('SQLITE_CORRUPT met by a write is TRIB_LOG_DAMAGED (not retriable), not the retriable TRIB_LOG_STORAGE', async (t) => {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, durability: 'write', topics: [{ name: 'w', partitions: 1 }] });
  for (let b = 0; b < 100; b++) await log.append('w', 0, Array.from({ length: 10 }, (_, i) => ({ timestamp: 1, key: null, value: Buffer.from(`b${b}-r${i}-${'x'.repeat(100)}`) })));
  await log.close();
  damageBatchesLeaf(join(dataDir, 'log.db'));

  const db = new Database(join(dataDir, 'log.db'));
  t.after(() => db.close());
  let sqliteError: unknown;
  try {
    db.prepare(`UPDATE batches SET size = size WHERE partition_id = 1`).run();
  } catch (err) {
    sqliteError = err;
  }
  assert.ok(isSqliteCorruption(sqliteError), `SQLite reported ${(sqliteError as Error | undefined)?.message}`);
  const mapped = toWriteError(sqliteError, dataDir);
  assert.ok(mapped instanceof LogDamagedError);
  assert.equal(mapped.code, 'TRIB_LOG_DAMAGED');
  assert.equal(mapped.retriable, false);
  assert.match(mapped.message, /SQLITE_CORRUPT.*tributary salvage --data-dir/);
});
