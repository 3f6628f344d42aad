// The cluster's log id through the epoch records (epoch-record.ts): what a new leader forwards as.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { clusterLogId, encodeEpochRecord, EPOCHS_TOPIC, logIdInEntries } from '../../../bridge/cluster/epoch-record.js';
import { LOG_ID_FILE, readLogIdentity } from '../../../bridge/shared/log-identity.js';
import { tempDir } from '../../helpers/temp-dir.js';

const epochRecord = (value: Buffer) => ({ timestamp: Date.now(), key: null, value, headers: [] });

test('the first leader forwards as its data directory\'s log (a former single node keeps its cursors); later leaders as the newest log id in the epoch records, which each node keeps', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, LOG_ID_FILE), 'former-single-node\n');
  const log = await Log.open({ dataDir: dir });
  t.after(() => log.close());
  assert.equal(clusterLogId(log, dir), 'former-single-node');

  // Records of a version before the id, then one with it, then a leader's of an older version again.
  await log.createTopic(EPOCHS_TOPIC, 1);
  await log.append(EPOCHS_TOPIC, 0, [epochRecord(Buffer.from(JSON.stringify({ epoch: 1, leader: 'a' })))]);
  assert.equal(clusterLogId(log, dir), 'former-single-node');
  await log.append(EPOCHS_TOPIC, 0, [epochRecord(encodeEpochRecord({ epoch: 2, leader: 'b', log: 'cluster-log' }))]);
  await log.append(EPOCHS_TOPIC, 0, [epochRecord(Buffer.from(JSON.stringify({ epoch: 3, leader: 'c' })))]);
  assert.equal(clusterLogId(log, dir), 'cluster-log');
  assert.equal(readLogIdentity(dir), 'cluster-log', 'the data directory keeps the cluster log id');

  // A follower learns it from fetched entries (as the leader's log holds them).
  const entries = log.readEntries(0, 1 << 20);
  assert.equal(logIdInEntries(entries), 'cluster-log');
  assert.equal(logIdInEntries(entries.filter((e) => e.topic !== EPOCHS_TOPIC)), null);
});

test('a data directory without a log id gets a new one, kept', async (t) => {
  const dir = tempDir(t);
  const log = await Log.open({ dataDir: dir });
  t.after(() => log.close());
  const id = clusterLogId(log, dir);
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(clusterLogId(log, dir), id);
});
