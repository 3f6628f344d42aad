// Replay readers cannot reach the upstream forwarder's position kept in the same cursor store,
// and readers stored before the `reader:` namespace are still found, listed and carried over.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CursorStore } from '../../../broker/cursors.js';
import { Log } from '../../../broker/log/log.js';
import { runCliAsync } from '../../helpers/cli.js';
import { startTestNode } from '../../helpers/mqtt-node.js';
import { seed } from '../../helpers/replay-data.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('the forwarder position is out of the readers reach; a legacy reader is still found', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', 1, 100);
  await log.close();
  const store = CursorStore.open(dataDir);
  store.commit('upstream', 'telemetry', 0, 60); // the at-least-once forwarder's position
  store.commit('legacy', 'telemetry', 0, 30); // a reader stored under the old naming
  store.close();

  const n = await startTestNode(t, {}, dataDir);
  const base = `http://127.0.0.1:${n.node.http.port}`;
  const listing = (await (await fetch(`${base}/api/readers`)).json()) as { readers: Array<{ reader: string; nextOffset: number }> };
  assert.deepEqual(listing.readers.map((r) => [r.reader, r.nextOffset]), [['legacy', 30]], 'upstream is not listed');

  const del = await fetch(`${base}/api/readers/upstream`, { method: 'DELETE' });
  assert.equal(del.status, 400);
  assert.match(((await del.json()) as { message: string }).message, /reader name 'upstream' is reserved/);
  const post = await fetch(`${base}/api/readers/upstream/positions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'telemetry', positions: [{ partition: 0, nextOffset: 100 }] }) });
  assert.equal(post.status, 400);
  assert.equal((await fetch(`${base}/api/topics/telemetry/records?reader=upstream`)).status, 400);
  const viaCli = await runCliAsync(['replay', '--url', base, '--topic', 'telemetry', '--reader', 'upstream']);
  assert.equal(viaCli.status, 2);
  assert.match(viaCli.stderr, /^tributary: reader name 'upstream' is reserved .*\[TRIB_USAGE\]\n$/);

  // The legacy reader resumes from its stored position and moves under the namespace.
  const resumed = await runCliAsync(['replay', '--url', base, '--topic', 'telemetry', '--reader', 'legacy']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout.split('\n')[0]!).offset, 30);
  assert.equal(resumed.stdout.trimEnd().split('\n').length, 70);
  await n.close();

  const offline = await runCliAsync(['readers', '--data-dir', dataDir, '--delete', 'upstream']);
  assert.equal(offline.status, 2);
  assert.match(offline.stderr, /reserved/);
  const listed = await runCliAsync(['readers', '--data-dir', dataDir, '--json']);
  assert.deepEqual((JSON.parse(listed.stdout) as { readers: Array<{ reader: string; nextOffset: number }> }).readers.map((r) => [r.reader, r.nextOffset]), [['legacy', 100]]);
  const after = CursorStore.open(dataDir);
  t.after(() => after.close());
  assert.deepEqual(after.list().map((c) => [c.group, c.nextOffset]), [['reader:legacy', 100], ['upstream', 60]], 'the forwarder position is untouched');
});

test('a Kafka consumer group committed offsets are listed beside the readers, as kafka:GROUP, and readers cannot move them', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', 1, 100);
  await log.close();
  const store = CursorStore.open(dataDir);
  store.commit('kafka:historian', 'telemetry', 0, 42); // as the Kafka endpoint's OffsetCommit stores it
  store.close();

  const viaDataDir = await runCliAsync(['readers', '--data-dir', dataDir]);
  assert.equal(viaDataDir.status, 0, viaDataDir.stderr);
  assert.match(viaDataDir.stdout, /kafka:historian\s+telemetry\s+0\s+42/);

  const n = await startTestNode(t, {}, dataDir);
  const base = `http://127.0.0.1:${n.node.http.port}`;
  const listing = (await (await fetch(`${base}/api/readers`)).json()) as { readers: Array<{ reader: string; nextOffset: number }> };
  assert.deepEqual(listing.readers.map((r) => [r.reader, r.nextOffset]), [['kafka:historian', 42]]);
  const post = await fetch(`${base}/api/readers/kafka:historian/positions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'telemetry', positions: [{ partition: 0, nextOffset: 100 }] }) });
  assert.equal(post.status, 400, 'a reader name cannot hold ":": the group is moved only through Kafka');
});
