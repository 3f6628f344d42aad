import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atLeastAsUpToDate, commitPosition, majority } from '../../../bridge/cluster/quorum.js';

test('quorum: the position a majority of voters holds; all: the lowest', () => {
  assert.equal(commitPosition([10, 7, 3], 'quorum', 1, 0), 7);
  assert.equal(commitPosition([10, 0, 0], 'quorum', 1, 0), 0);
  assert.equal(commitPosition([10, 7, 3], 'all', 1, 0), 3);
  assert.equal(commitPosition([9, 9, 8, 2, 1], 'quorum', 1, 0), 8);
  assert.equal(majority(3), 2);
  assert.equal(majority(5), 3);
});

test('only an entry of the leader own epoch is committed by counting; older ones with it (Raft 5.4.2)', () => {
  // The leader's epoch starts at 8: entries 5..7 of an earlier epoch held by a majority are not committed by that.
  assert.equal(commitPosition([9, 7, 2], 'quorum', 8, 4), 4);
  // Once a majority holds the epoch's first entry, everything below it is committed too.
  assert.equal(commitPosition([9, 8, 2], 'quorum', 8, 4), 8);
  // Never back.
  assert.equal(commitPosition([9, 8, 2], 'quorum', 8, 9), 9);
});

test('a candidate log is at least as up to date by (last epoch, last seq)', () => {
  assert.ok(atLeastAsUpToDate({ epoch: 3, seq: 1 }, { epoch: 2, seq: 100 }));
  assert.ok(atLeastAsUpToDate({ epoch: 2, seq: 100 }, { epoch: 2, seq: 100 }));
  assert.ok(!atLeastAsUpToDate({ epoch: 2, seq: 99 }, { epoch: 2, seq: 100 }));
  assert.ok(!atLeastAsUpToDate({ epoch: 1, seq: 500 }, { epoch: 2, seq: 1 }));
});
