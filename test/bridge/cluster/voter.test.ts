// The voter's rules (bridge/cluster/voter.ts), which a data node and the witness both go through,
// on a real cluster.db: each rule grants in one case and refuses in another, and what a voter
// learns from announcements and fetch answers moves its epoch, its leader and its wiped state.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import type { EntryPosition } from '../../../broker/log/log.js';
import { ElectionState } from '../../../bridge/cluster/election-state.js';
import { UnknownPeerError } from '../../../bridge/cluster/errors.js';
import { NONE, NOT_LEADER, type VoteRequest } from '../../../bridge/cluster/messages.js';
import { Voter } from '../../../bridge/cluster/voter.js';
import { tempDir } from '../../helpers/temp-dir.js';

interface Fixture {
  voter: Voter;
  state: ElectionState;
  /** The leaders the host was told it follows, in order. */
  followed: (string | null)[];
  granted: () => number;
  replaced: boolean[];
  /** The voter's own log end. */
  last: { value: EntryPosition };
  /** What the host says of its lease; null: it does not lead. */
  lease: { value: boolean | null };
}

function open(t: TestContext, dir: string, { formatted = true, logEmpty = false }: { formatted?: boolean; logEmpty?: boolean } = {}): Fixture {
  if (formatted) ElectionState.format(dir, { cluster: null, nodeId: 'v' });
  const state = ElectionState.open(dir);
  t.after(() => state.close());
  const followed: (string | null)[] = [];
  const replaced: boolean[] = [];
  let granted = 0;
  const last = { value: logEmpty ? { epoch: -1, seq: 0 } : { epoch: 2, seq: 10 } };
  const lease = { value: null as boolean | null };
  const voter = new Voter(state, logEmpty, {
    nodeId: 'v',
    peerIds: ['a', 'b'],
    electionTimeoutMs: 60_000, // a leader heard from stays alive for the whole test
    logger: pino({ level: 'silent' }),
    lastEntry: () => last.value,
    lease: () => lease.value,
    followed: (leaderId) => void followed.push(leaderId),
    granted: () => void granted++,
    replaced: (wasBlocked) => void replaced.push(wasBlocked),
  });
  return { voter, state, followed, granted: () => granted, replaced, last, lease };
}

const ask = (candidateId: string, epoch: number, last: EntryPosition, extra: Partial<VoteRequest> = {}): VoteRequest => ({ candidateId, epoch, last, preVote: false, ...extra });

test('epoch: a candidate of an older epoch is refused, one of this epoch or a newer one is granted; a voter outside the cluster is refused outright', (t) => {
  const { voter, state } = open(t, tempDir(t));
  state.set(3, null);
  assert.deepEqual(voter.vote(ask('a', 2, { epoch: 2, seq: 10 })), { epoch: 3, granted: false, leaderId: null });
  assert.deepEqual(voter.vote(ask('a', 3, { epoch: 2, seq: 10 })), { epoch: 3, granted: true, leaderId: null });
  assert.throws(() => voter.vote(ask('x', 4, { epoch: 2, seq: 10 })), UnknownPeerError);
  assert.throws(() => voter.begin({ leaderId: 'x', epoch: 4 }), UnknownPeerError);
});

test('up-to-date log (KIP-595): a candidate whose log is behind is refused (a real vote still moves the voter to its epoch, no vote cast); one at least as up to date is granted', (t) => {
  const { voter, state, granted } = open(t, tempDir(t));
  const preVote = (last: EntryPosition): boolean => voter.vote(ask('a', 5, last, { preVote: true })).granted;
  assert.equal(preVote({ epoch: 2, seq: 9 }), false, 'shorter in the same epoch');
  assert.equal(preVote({ epoch: 1, seq: 50 }), false, 'longer, in an older epoch');
  assert.equal(preVote({ epoch: 2, seq: 10 }), true, 'the same end');
  assert.equal(preVote({ epoch: 3, seq: 1 }), true, 'a newer epoch');
  assert.deepEqual([state.epoch, state.votedFor, granted()], [0, null, 0], 'a pre-vote changes nothing');
  assert.equal(voter.vote(ask('a', 5, { epoch: 2, seq: 9 })).granted, false);
  assert.deepEqual([state.epoch, state.votedFor, granted()], [5, null, 0], 'moved to the epoch, no vote');
  assert.equal(voter.vote(ask('b', 5, { epoch: 2, seq: 10 })).granted, true);
  assert.deepEqual([state.epoch, state.votedFor, granted()], [5, 'b', 1]);
});

test('one vote per epoch, durable before the answer: a second candidate of the epoch is refused, also after a restart; the same candidate asking again, or a newer epoch, is granted', (t) => {
  const dir = tempDir(t);
  const first = open(t, dir);
  assert.equal(first.voter.vote(ask('a', 4, { epoch: 2, seq: 10 })).granted, true);
  const reader = ElectionState.open(dir); // another connection, while the voter's is open
  assert.deepEqual([reader.epoch, reader.votedFor], [4, 'a'], 'on disk when the answer is given');
  reader.close();
  assert.equal(first.voter.vote(ask('b', 4, { epoch: 2, seq: 10 })).granted, false);
  first.state.close();

  const again = open(t, dir, { formatted: false });
  assert.equal(again.voter.vote(ask('b', 4, { epoch: 2, seq: 10 })).granted, false, 'the vote survived the restart');
  assert.equal(again.voter.vote(ask('a', 4, { epoch: 2, seq: 10 })).granted, true, 'the candidate it voted for');
  assert.equal(again.voter.vote(ask('b', 5, { epoch: 2, seq: 10 })).granted, true, 'a newer epoch');
});

test('check-quorum: while the voter hears from a live leader it refuses other candidates, naming the leader; the leader itself, or anyone once the leader resigned, is granted', (t) => {
  const { voter, followed } = open(t, tempDir(t));
  assert.equal(voter.begin({ leaderId: 'a', epoch: 4 }), 4);
  assert.deepEqual([followed, voter.leaderId, voter.heardFromLeader()], [['a'], 'a', true]);
  assert.deepEqual(voter.vote(ask('b', 5, { epoch: 2, seq: 10 }, { preVote: true })), { epoch: 4, granted: false, leaderId: 'a' });
  assert.equal(voter.vote(ask('a', 5, { epoch: 2, seq: 10 }, { preVote: true })).granted, true, 'the leader standing again');
  assert.equal(voter.end({ leaderId: 'a', epoch: 4 }, true), true);
  assert.deepEqual([voter.leaderId, voter.heardFromLeader()], [null, false]);
  assert.equal(voter.vote(ask('b', 5, { epoch: 2, seq: 10 }, { preVote: true })).granted, true, 'no live leader after the resignation');
});

test('the leader\'s lease: a leading node holding its lease refuses other candidates; one that lost it grants them', (t) => {
  const { voter, lease } = open(t, tempDir(t));
  voter.leaderId = 'v';
  lease.value = true;
  assert.equal(voter.vote(ask('b', 5, { epoch: 2, seq: 10 }, { preVote: true })).granted, false);
  lease.value = false;
  assert.equal(voter.vote(ask('b', 5, { epoch: 2, seq: 10 }, { preVote: true })).granted, true);
});

test('a resignation is taken only from the leader of this epoch (or with no leader known) by a voter that follows', (t) => {
  const { voter } = open(t, tempDir(t));
  voter.begin({ leaderId: 'a', epoch: 4 });
  assert.equal(voter.end({ leaderId: 'b', epoch: 4 }, true), false, 'another node');
  assert.equal(voter.end({ leaderId: 'a', epoch: 3 }, true), false, 'another epoch');
  assert.equal(voter.end({ leaderId: 'a', epoch: 4 }, false), false, 'not following (a candidate, a leader)');
  assert.equal(voter.leaderId, 'a');
  voter.fetchRefused({ error: NOT_LEADER, epoch: 4, leaderId: null });
  assert.equal(voter.leaderId, null, 'a NOT_LEADER answer came first');
  assert.equal(voter.end({ leaderId: 'a', epoch: 4 }, true), true);
});

test('a wiped voter (empty log, cluster.db not formatted) refuses every vote until a leader tells it the epoch, then vouches only for an empty log until it caught up with the leader', (t) => {
  const { voter, state } = open(t, tempDir(t), { formatted: false, logEmpty: true });
  assert.equal(voter.forgotten.blocks, true);
  assert.equal(voter.vote(ask('a', 1, { epoch: -1, seq: 0 }, { preVote: true })).granted, false, 'it may have voted in any epoch');
  voter.begin({ leaderId: 'a', epoch: 3 });
  assert.deepEqual([voter.forgotten.blocks, state.epoch, state.votedFor], [false, 3, 'a'], 'its vote in the leader\'s epoch taken as cast for the leader');
  assert.equal(voter.vote(ask('a', 4, { epoch: 3, seq: 5 }, { preVote: true })).granted, false, 'a candidate holding entries: this voter cannot tell whether they are all committed ones');
  assert.equal(voter.vote(ask('a', 4, { epoch: -1, seq: 0 }, { preVote: true })).granted, true, 'an empty candidate');
  voter.fetched('a', 3, []);
  voter.storedUpTo({ epoch: 3, seq: 4 }, { epoch: 3, commitSeq: 5 });
  assert.equal(voter.vote(ask('a', 4, { epoch: 3, seq: 5 }, { preVote: true })).granted, false, 'behind the commit position');
  voter.storedUpTo({ epoch: 3, seq: 5 }, { epoch: 3, commitSeq: 5 });
  assert.equal(voter.vote(ask('a', 4, { epoch: 3, seq: 5 }, { preVote: true })).granted, true, 'caught up');
});

test('a wiped voter learns its epoch from a fetch answer too; a formatted voter with an empty log is new and votes by the normal rules', (t) => {
  const wiped = open(t, tempDir(t), { formatted: false, logEmpty: true });
  wiped.voter.fetched('b', 6, []);
  assert.deepEqual([wiped.voter.forgotten.blocks, wiped.state.epoch, wiped.state.votedFor], [false, 6, 'b']);
  const fresh = open(t, tempDir(t), { logEmpty: true });
  assert.equal(fresh.voter.forgotten.blocks, false);
  assert.equal(fresh.voter.vote(ask('a', 1, { epoch: 1, seq: 3 })).granted, true);
});

test('directory ids (KIP-853): a request addressed to another directory of this voter is refused and the voter votes as a wiped one from then on; one addressed to its own is granted; a candidate presenting another directory id than the one known is refused', (t) => {
  const { voter, state, replaced } = open(t, tempDir(t));
  assert.equal(voter.vote(ask('a', 1, { epoch: 2, seq: 10 }, { preVote: true, voterDirectoryId: state.directoryId })).granted, true);
  assert.equal(voter.vote(ask('a', 1, { epoch: 2, seq: 10 }, { preVote: true, voterDirectoryId: 'former' })).granted, false);
  assert.deepEqual([replaced, voter.forgotten.blocks, state.replaced], [[false], true, true]);
  assert.equal(voter.vote(ask('a', 1, { epoch: 2, seq: 10 }, { preVote: true, voterDirectoryId: state.directoryId })).granted, false, 'forgot its vote');

  const other = open(t, tempDir(t));
  other.voter.fetched('a', 1, [{ id: 'a', directoryId: 'dir-a' }]);
  other.voter.forgetLeader();
  assert.equal(other.voter.vote(ask('a', 2, { epoch: 2, seq: 10 }, { preVote: true, candidateDirectoryId: 'dir-x' })).granted, false);
  assert.equal(other.voter.vote(ask('a', 2, { epoch: 2, seq: 10 }, { preVote: true, candidateDirectoryId: 'dir-a' })).granted, true);
});

test('a leader\'s fetch answer naming this voter under its own directory confirms it only once caught up (a replaced voter grants again then)', (t) => {
  const { voter, state } = open(t, tempDir(t));
  voter.vote(ask('a', 1, { epoch: 2, seq: 10 }, { preVote: true, voterDirectoryId: 'former' }));
  voter.fetched('a', 1, [{ id: 'v', directoryId: state.directoryId }]);
  assert.equal(state.replaced, true, 'not caught up yet');
  voter.storedUpTo({ epoch: 1, seq: 12 }, { epoch: 1, commitSeq: 12 });
  voter.fetched('a', 1, [{ id: 'v', directoryId: state.directoryId }]);
  assert.deepEqual([state.replaced, state.confirmed], [false, true]);
});

test('announcements and fetch answers: an older epoch is not followed; a newer one is, durably and without a vote; NOT_LEADER forgets the leader', (t) => {
  const { voter, state, followed } = open(t, tempDir(t));
  state.set(5, 'b');
  assert.equal(voter.begin({ leaderId: 'a', epoch: 4 }), 5, 'answers its own epoch');
  assert.deepEqual(followed, []);
  voter.fetchRefused({ error: NONE, epoch: 5, leaderId: 'a' });
  assert.deepEqual(followed, [], 'not newer: nothing learned');
  voter.fetchRefused({ error: NOT_LEADER, epoch: 7, leaderId: 'a' });
  assert.deepEqual([followed, voter.leaderId, state.epoch, state.votedFor, voter.heardFromLeader()], [['a'], 'a', 7, null, false], 'named by another, not heard from');
  voter.fetched('a', 7, []);
  assert.equal(voter.heardFromLeader(), true);
  voter.fetchRefused({ error: NOT_LEADER, epoch: 7, leaderId: null });
  assert.equal(voter.leaderId, null);
});

test('BeginQuorumEpoch of the epoch this voter voted in (the candidate it voted for won) is followed; one of an older epoch is not', (t) => {
  const { voter, state, followed } = open(t, tempDir(t));
  assert.equal(voter.vote(ask('a', 4, { epoch: 2, seq: 10 })).granted, true);
  assert.deepEqual(followed, [null], 'the vote moved it to the epoch, no leader known yet');
  assert.equal(voter.begin({ leaderId: 'a', epoch: 4 }), 4);
  assert.deepEqual([followed, voter.leaderId, voter.heardFromLeader(), state.votedFor], [[null, 'a'], 'a', true, 'a']);
  assert.equal(voter.begin({ leaderId: 'b', epoch: 3 }), 4);
  assert.equal(voter.leaderId, 'a');
});
