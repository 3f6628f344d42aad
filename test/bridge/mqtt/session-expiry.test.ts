// The expiry sweep's schedule and its lifecycle; what a sweep removes is tested with the store
// (sqlite-persistence.test.ts) and through the front end (front-end-sessions.test.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../../bridge/logger.js';
import { SessionExpiry, sweepInterval } from '../../../bridge/mqtt/session-expiry.js';
import { SqlitePersistence } from '../../../bridge/mqtt/sqlite-persistence.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('the sweep runs every expiry, at least hourly and at most every second', () => {
  assert.equal(sweepInterval(1), 1000);
  assert.equal(sweepInterval(30_000), 30_000);
  assert.equal(sweepInterval(604_800_000), 3_600_000);
});

test('start() sweeps before it returns; a clean session leaves nothing to expire; close() is idempotent', async (t) => {
  const store = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db') });
  t.after(() => store.destroy());
  await store.setup({ id: 'node-1' });
  store.sessionOnline('sensor', true);
  store.sessionOffline('sensor', true, 0);
  store.sessionOnline('historian', false);
  store.sessionOffline('historian', false, 0);
  const expired: number[] = [];
  const expiry = new SessionExpiry(store, 1000, createLogger('silent'), (n) => expired.push(n));
  await expiry.start();
  assert.deepEqual(expired, [1], 'only the persistent session, swept at once');
  await expiry.close();
  await expiry.close();
});
