// replay --to-mqtt into a three-node Tributary cluster (real processes), the addresses of all three
// given: with a follower first the replay lands on the leader (MQTT 5.0: CONNACK 0x9C and the
// leader's cluster.peers[].mqtt as Server Reference); with the leader killed mid-replay it goes on
// at the new leader and every record arrives there. The invariant: a record the old leader
// acknowledged (acks: quorum) is on a majority, so on the new leader; a record it did not is sent
// again. At QoS 1 the new leader may then store one twice, which the replay reports.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Log } from '../../broker/log/log.js';
import { runCli, runCliAsync } from '../helpers/cli.js';
import { startReplicas, storedValues, waitForLeader, type Replica } from '../helpers/replicas.js';
import { tempDir } from '../helpers/temp-dir.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const urlOf = (replica: Replica): string => `mqtt://127.0.0.1:${replica.mqttPort}`;

/** A stopped node's data directory holding `count` records `${label}-${i}` on MQTT topic replay/${label}. */
async function seeded(t: TestContext, label: string, count: number): Promise<string> {
  const dataDir = join(tempDir(t), label);
  const log = await Log.open({ dataDir, durability: 'write' });
  await log.createTopic('telemetry', 1);
  const t0 = Date.now() - 60_000;
  const records = Array.from({ length: count }, (_, i) => ({ timestamp: t0 + i, key: null, value: Buffer.from(`${label}-${i}`), headers: [['mqtt.topic', Buffer.from(`replay/${label}`)]] as const }));
  for (let i = 0; i < count; i += 500) await log.append('telemetry', 0, records.slice(i, i + 500));
  await log.close();
  return dataDir;
}

const labelled = (replica: Replica, label: string): string[] => storedValues(replica).filter((v) => v.startsWith(`${label}-`));

test('replay --to-mqtt into a cluster: a follower first lands on the leader; the leader killed mid-replay, it goes on at the new leader and every record arrives', async (t) => {
  const replicas = await startReplicas(t, 3, { peerMqtt: true });
  const leader = await waitForLeader(replicas);
  const followers = replicas.filter((r) => r !== leader);

  const first = await seeded(t, 'first', 200);
  const redirected = await runCliAsync(['replay', '--data-dir', first, '--topic', 'telemetry', '--to-mqtt', [followers[0]!, leader, followers[1]!].map(urlOf).join(',')]);
  assert.equal(redirected.status, 0, redirected.stderr);
  assert.equal(redirected.stderr, '', 'the first connection is not a move');
  assert.deepEqual(labelled(leader, 'first'), Array.from({ length: 200 }, (_, i) => `first-${i}`), 'every record, once, in order');

  const count = 1500;
  const second = await seeded(t, 'second', count);
  const replay = runCliAsync(['replay', '--data-dir', second, '--topic', 'telemetry', '--reader', 'across', '--qos', '1', '--rate', '300', '--to-mqtt', [leader, ...followers].map(urlOf).join(','), '--to-mqtt', urlOf(followers[0]!)]);
  // Bounded: the leader has stored part of the replay.
  for (let i = 0; i < 300 && labelled(leader, 'second').length < 200; i++) await sleep(100);
  assert.ok(labelled(leader, 'second').length >= 200, 'the leader took part of the replay');
  await leader.kill();
  const r = await replay;
  assert.equal(r.status, 0, r.stderr);
  const moved = /^tributary: --to-mqtt: moved (\d+) time\(s\); (\d+) publish\(es\) sent again/m.exec(r.stderr);
  assert.ok(moved !== null && Number(moved[1]) >= 1, r.stderr);
  for (const line of r.stderr.trim().split('\n')) t.diagnostic(line);

  const successor = await waitForLeader(followers);
  const stored = labelled(successor, 'second');
  assert.deepEqual(new Set(stored), new Set(Array.from({ length: count }, (_, i) => `second-${i}`)), 'every record arrived');
  assert.ok(stored.length - count <= Number(moved[2]), `duplicates (${stored.length - count}) are among the ${moved[2]} resent`);
  t.diagnostic(`${stored.length - count} duplicate(s) stored of ${moved[2]} resent`);
  const readers = JSON.parse(runCli(['readers', '--data-dir', second, '--json']).stdout) as { readers: Array<{ nextOffset: number }> };
  assert.deepEqual(readers.readers.map((p) => p.nextOffset), [count], 'the reader reached the end');
});
