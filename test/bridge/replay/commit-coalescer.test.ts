// Reader commits through the node: at most one write per reader per interval, every caller
// answered once its positions (or later ones) were written.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoalescedCommits, type PositionEntry } from '../../../bridge/replay/commit-coalescer.js';

test('a burst of commits of one reader is two writes; later positions win; other readers are not held back', async () => {
  const writes: Array<[string, PositionEntry[]]> = [];
  const commits = new CoalescedCommits((reader, entries) => writes.push([reader, entries]), 200);
  const at = (partition: number, nextOffset: number): PositionEntry => ({ topic: 't', partition, nextOffset });
  await commits.commit('a', [at(0, 1)]);
  assert.equal(writes.length, 1, 'the first commit is written at once');
  const burst = Array.from({ length: 10 }, (_, i) => commits.commit('a', [at(0, 2 + i), at(1, 100 + i)]));
  await commits.commit('b', [at(0, 7)]);
  assert.deepEqual(writes.map(([r]) => r), ['a', 'b'], 'b has its own slot');
  await Promise.all(burst);
  assert.deepEqual(writes, [['a', [at(0, 1)]], ['b', [at(0, 7)]], ['a', [at(0, 11), at(1, 109)]]]);
});
