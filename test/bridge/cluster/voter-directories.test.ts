// KIP-853's directory ids as one node keeps and checks them (bridge/cluster/voter-directories.ts),
// on a real cluster.db: a leader counts a voter with another directory id only once it caught up;
// a voter asked under another directory id takes itself for replaced until a leader names its own
// while it has caught up; a candidate with another directory id than the one known is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { ElectionState } from '../../../bridge/cluster/election-state.js';
import { VoterDirectories } from '../../../bridge/cluster/voter-directories.js';
import { tempDir } from '../../helpers/temp-dir.js';

function open(dir: string): { state: ElectionState; directories: VoterDirectories; replacedCalls: () => number } {
  const state = ElectionState.open(dir);
  let calls = 0;
  const directories = new VoterDirectories(state, 'v', pino({ level: 'silent' }), () => void calls++);
  return { state, directories, replacedCalls: () => calls };
}

test('a leader takes the first directory id a voter fetches with, and counts another one only once its fetch shows it caught up, then records it', (t) => {
  const { state, directories } = open(tempDir(t));
  t.after(() => state.close());
  assert.equal(directories.admitFetch('c1', 'dir-1', false), true, 'first heard: taken');
  assert.equal(directories.admitFetch('c1', 'dir-1', false), true);
  assert.equal(directories.admitFetch('c1', 'dir-2', false), false, 'another directory, not caught up: not counted');
  assert.equal(directories.known('c1'), 'dir-1');
  assert.equal(directories.admitFetch('c1', 'dir-2', true), true, 'caught up: counted');
  assert.equal(directories.known('c1'), 'dir-2');
  assert.equal(directories.admitFetch('c1', null, false), true, 'an older node sends none: nothing to check');
  assert.deepEqual(directories.list(), [{ id: 'v', directoryId: state.directoryId }, { id: 'c1', directoryId: 'dir-2' }]);
});

test('a voter asked under another directory id is replaced (durably) until a leader names its own while it has caught up; once confirmed, a candidate that has not heard yet is not refused for it', (t) => {
  const dir = tempDir(t);
  const first = open(dir);
  const own = first.directories.own;
  const ask = (d: VoterDirectories, voterDirectoryId: string | null): boolean => d.mayGrant({ candidateId: 'c1', epoch: 1, last: { epoch: -1, seq: 0 }, preVote: true, voterDirectoryId });
  assert.equal(ask(first.directories, own), true);
  assert.equal(ask(first.directories, null), true);
  assert.equal(ask(first.directories, 'former'), false);
  assert.equal(ask(first.directories, 'former'), false);
  assert.deepEqual([first.directories.replaced, first.replacedCalls()], [true, 1], 'told once');
  first.state.close();

  const again = open(dir);
  t.after(() => again.state.close());
  assert.equal(again.directories.replaced, true, 'durable');
  again.directories.learn('c1', [{ id: 'v', directoryId: own }, { id: 'c2', directoryId: 'dir-c2' }], false);
  assert.deepEqual([again.directories.replaced, again.state.confirmed, again.directories.known('c2')], [true, false, 'dir-c2'], 'named, but not caught up yet');
  assert.equal(ask(again.directories, 'former'), false);
  again.directories.learn('c1', [{ id: 'v', directoryId: own }], true);
  assert.deepEqual([again.directories.replaced, again.state.confirmed], [false, true]);
  assert.equal(ask(again.directories, 'former'), true, 'the candidate has not heard that the cluster counts this directory');
  assert.equal(again.directories.replaced, false);
});

test('a leader naming this node under another directory marks it replaced; a candidate presenting another directory id than the one known is refused', (t) => {
  const { state, directories, replacedCalls } = open(tempDir(t));
  t.after(() => state.close());
  directories.learn('c1', [{ id: 'c1', directoryId: 'dir-c1' }, { id: 'v', directoryId: 'former' }], true);
  assert.deepEqual([directories.replaced, replacedCalls(), state.confirmed], [true, 1, false]);
  const candidate = (candidateDirectoryId: string | null): boolean => directories.mayGrant({ candidateId: 'c1', epoch: 1, last: { epoch: -1, seq: 0 }, preVote: true, candidateDirectoryId });
  assert.equal(candidate('dir-other'), false);
  assert.equal(candidate('dir-c1'), true);
  assert.equal(candidate(null), true);
});

test('a voter taken for replaced that has since caught up with a leader grants a candidate still addressing its former directory (the leader may have died before it counted the new one)', (t) => {
  const state = ElectionState.open(tempDir(t));
  t.after(() => state.close());
  let caughtUp = false;
  const directories = new VoterDirectories(state, 'v', pino({ level: 'silent' }), () => void (caughtUp = false), () => caughtUp);
  const ask = (): boolean => directories.mayGrant({ candidateId: 'c1', epoch: 1, last: { epoch: -1, seq: 0 }, preVote: true, voterDirectoryId: 'former' });
  assert.equal(ask(), false, 'not caught up: taken for replaced, refused');
  assert.equal(directories.replaced, true);
  caughtUp = true;
  assert.equal(ask(), true, 'caught up since');
});
