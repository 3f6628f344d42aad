// replay --to-mqtt loses a connection with another address to go to: a server that takes QoS 1
// PUBLISHes, never acknowledges them and drops the connection (a leader that dies with messages in
// flight), then mosquitto. The replay moves on and publishes again what was not acknowledged:
// every record arrives, a reader's position reaches the end, and the resends are reported.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { runCli, runCliAsync } from '../../helpers/cli.js';
import { startMosquitto, subscribe } from '../../helpers/mosquitto.js';
import { payload, seed } from '../../helpers/replay-data.js';
import { blackHoleServer } from '../../helpers/stand-in-brokers.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

test('a connection lost mid-replay: on to the next address, the unacknowledged records sent again, none lost', async (t) => {
  const { port } = await startMosquitto(t);
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', 1, 500);
  await log.close();
  const dying = await blackHoleServer(t, 10);
  const sub = await subscribe(t, port, 'site/#');
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--reader', 'mover', '--to-mqtt', `${dying.url},mqtt://127.0.0.1:${port}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(dying.swallowed() >= 10, 'the first address took publishes and died');
  const moved = /^tributary: --to-mqtt: moved 1 time\(s\); (\d+) publish\(es\) sent again/m.exec(r.stderr);
  assert.ok(moved, r.stderr);
  assert.match(r.stderr, new RegExp(`^tributary: --to-mqtt: publish to ${dying.url.replace(/\./g, '\\.')} failed: [^\\n]+; went on at mqtt://127\\.0\\.0\\.1:${port}$`, 'm'));
  assert.equal(Number(moved[1]), dying.swallowed(), 'each swallowed publish was sent again');
  await waitFor(() => new Set(sub.messages.map((m) => m.hex)).size >= 500, 'mosquitto_sub to receive all 500 records');
  assert.deepEqual(new Set(sub.messages.map((m) => m.hex)), new Set(Array.from({ length: 500 }, (_, i) => payload(0, i).toString('hex'))));
  const listed = JSON.parse(runCli(['readers', '--data-dir', dataDir, '--json']).stdout) as { readers: Array<{ nextOffset: number }> };
  assert.deepEqual(listed.readers.map((p) => p.nextOffset), [500]);
});

test('every address takes the connection and drops it at the first publish: the replay ends with TRIB_REPLAY_TARGET instead of going round for ever', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', 1, 20);
  await log.close();
  const a = await blackHoleServer(t, 1);
  const b = await blackHoleServer(t, 1);
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', `${a.url},${b.url}`]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tributary: --to-mqtt: publish to \S+ failed: [^\n]+; 10 connections in a row were lost before a publish was acknowledged \[TRIB_REPLAY_TARGET\]$/m);
  assert.ok(a.swallowed() >= 5 && b.swallowed() >= 5, 'both addresses were used');
});
