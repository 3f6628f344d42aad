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
