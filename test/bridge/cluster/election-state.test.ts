import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElectionState } from '../../../bridge/cluster/election-state.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('the epoch and the vote survive a reopen; the epoch never goes back', (t) => {
  const dir = tempDir(t);
  const state = ElectionState.open(dir);
  assert.deepEqual([state.epoch, state.votedFor], [0, null]);
  state.set(4, 'gw-b');
  state.close();
  const again = ElectionState.open(dir);
  t.after(() => again.close());
  assert.deepEqual([again.epoch, again.votedFor], [4, 'gw-b']);
  assert.throws(() => again.set(3, null), { code: 'TRIB_CLUSTER_STATE' });
  again.set(5, null);
  assert.deepEqual([again.epoch, again.votedFor], [5, null]);
});

test('format writes cluster.db once with the format mark (cluster, node id, a random directory id), epoch 0 and no vote; open reads the mark back', (t) => {
  const dir = tempDir(t);
  const mark = ElectionState.format(dir, { cluster: 'site-a', nodeId: 'gw-a' });
  assert.match(mark.directoryId, /^[0-9a-f-]{36}$/);
  const state = ElectionState.open(dir);
  t.after(() => state.close());
  assert.deepEqual([state.epoch, state.votedFor], [0, null]);
  assert.deepEqual(state.format, mark);
  assert.notEqual(ElectionState.format(tempDir(t), { cluster: 'site-a', nodeId: 'gw-a' }).directoryId, mark.directoryId, 'a new directory id per formatting');
  // Once: a second format of the same directory is refused and changes nothing.
  assert.throws(() => ElectionState.format(dir, { cluster: 'site-b', nodeId: 'gw-b' }), { code: 'TRIB_CLUSTER_STATE', message: /exists already/ });
  state.set(2, 'gw-b');
  state.close();
  const again = ElectionState.open(dir);
  t.after(() => again.close());
  assert.deepEqual(again.format, mark);
  assert.deepEqual([again.epoch, again.votedFor], [2, 'gw-b']);
});

test('a cluster.db made at a start (no init) has no format mark; a formatted one is refused for another node id or cluster name', (t) => {
  const plain = ElectionState.open(tempDir(t));
  t.after(() => plain.close());
  assert.equal(plain.format, null);
  plain.checkFormat('anyone', 'any-cluster');

  const dir = tempDir(t);
  ElectionState.format(dir, { cluster: 'site-a', nodeId: 'gw-a' });
  const state = ElectionState.open(dir);
  t.after(() => state.close());
  state.checkFormat('gw-a', 'site-a');
  state.checkFormat('gw-a', null);
  assert.throws(() => state.checkFormat('gw-b', 'site-a'), { code: 'TRIB_CLUSTER_STATE', message: /formatted for node 'gw-a', but cluster.nodeId is 'gw-b'/ });
  assert.throws(() => state.checkFormat('gw-a', 'site-b'), { code: 'TRIB_CLUSTER_STATE', message: /formatted for cluster 'site-a'/ });
});

test('every cluster.db has a directory id (init\'s, else drawn when made), kept with the voter directories it learned and the replaced mark across a reopen', (t) => {
  const formatted = tempDir(t);
  const mark = ElectionState.format(formatted, { cluster: null, nodeId: 'gw-a' });
  const a = ElectionState.open(formatted);
  assert.equal(a.directoryId, mark.directoryId);
  a.close();

  const dir = tempDir(t);
  const state = ElectionState.open(dir);
  const drawn = state.directoryId;
  assert.match(drawn, /^[0-9a-f-]{36}$/);
  assert.deepEqual([state.voterDirectory('gw-b'), state.replaced], [null, false]);
  state.setVoterDirectory('gw-b', 'dir-b');
  state.setVoterDirectory('gw-c', 'dir-c');
  state.setVoterDirectory('gw-b', 'dir-b2');
  state.setReplaced(true);
  state.close();
  const again = ElectionState.open(dir);
  t.after(() => again.close());
  assert.equal(again.directoryId, drawn);
  assert.deepEqual([...again.voterDirectories()].sort(), [['gw-b', 'dir-b2'], ['gw-c', 'dir-c']]);
  assert.equal(again.replaced, true);
});
