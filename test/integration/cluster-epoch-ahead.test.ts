// A node whose epoch is ahead of a live leader's rejoins (found by the cluster fault harness,
// docs/replication.md "Found and fixed"). Under load a follower's pre-vote was granted at a moment a
// peer had not heard from the leader within its timeout; it moved to the next epoch and stood, and
// by then the peers heard from the leader again and refused (check-quorum). From there it was
// stranded: its pre-votes are refused while the leader lives, the refusals name a leader of an
// older epoch, which it must not follow, and the leader never learns of the newer epoch (the peers
// ignore vote requests while they hear from it, and the node does not fetch). It stayed out, so the
// cluster ran without a spare node. Raft with check-quorum has the same trap; etcd's answer is ours:
// the node tells the older epoch's leader of its epoch (here: a fetch carrying it), the leader steps
// down, and the next election takes it back in (whoever wins it).
// Here the state is made directly: a follower stopped, its durable epoch (cluster.db) raised above
// the leader's, started again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElectionState } from '../../bridge/cluster/election-state.js';
import { startReplicas, waitForLeader } from '../helpers/replicas.js';

test('a follower restarted with an epoch ahead of the live leader\'s rejoins: the leader steps down and a new election takes it back in', async (t) => {
  const replicas = await startReplicas(t, 3);
  const leader = await waitForLeader(replicas);
  const epoch = (await leader.status())!.epoch;
  const ahead = replicas.find((r) => r !== leader)!;
  await ahead.kill();
  const state = ElectionState.open(ahead.dir);
  state.set(epoch + 5, null);
  state.close();
  await ahead.restart();
  // Bounded: without the fix the node stays out (no leader in its epoch, its pre-votes refused) and this throws.
  const next = await waitForLeader(replicas);
  const status = (await next.status())!;
  assert.ok(status.epoch > epoch + 5, `the cluster went on in epoch ${status.epoch}, not past the node's ${epoch + 5}`);
});
