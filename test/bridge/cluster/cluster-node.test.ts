// One ClusterNode as a voter, with a real log and its real replication listener; the requests are
// sent as a peer would send them (transport.ts, messages.ts).
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { Log, replicatedCommit } from '../../../broker/log/log.js';
import { ClusterNode } from '../../../bridge/cluster/cluster-node.js';
import { ElectionState } from '../../../bridge/cluster/election-state.js';
import { API_BEGIN_QUORUM_EPOCH, API_END_QUORUM_EPOCH, API_FETCH, API_VOTE, decodeFetch, decodeVote, decodeVoteResponse, encodeBeginQuorumEpoch, encodeFetchResponse, encodeVote, encodeVoteResponse, NONE, NOT_LEADER, Writer, type VoteRequest } from '../../../bridge/cluster/messages.js';
import { decodeBatch, encodeBatch } from '../../../broker/log/record-batch.js';
import { API_FORWARD, decodeForwardResponse, encodeForward, FORWARD_NOT_LEADER } from '../../../bridge/cluster/forward-messages.js';
import { PeerConnection, ReplicationServer } from '../../../bridge/cluster/transport.js';
import { freePort } from '../../helpers/cli.js';
import { makeRecords } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { pollUntil } from '../../helpers/wait-for.js';

/** The voters' election timeout: a minute, so that what they do sooner is not the timeout's doing. */
const ELECTION_TIMEOUT_MS = 60_000;
/**
 * How long a test waits for what a voter must do without its election timeout: generous for a loaded
 * machine, and still well before the timeout, so that the wait cannot be met by the timeout instead.
 */
const WITHIN_TIMEOUT_MS = ELECTION_TIMEOUT_MS / 2;

async function startVoter(t: TestContext, dataDir: string, log?: Log, c1Address?: string, logger: pino.Logger = pino({ level: 'silent' })): Promise<{ node: ClusterNode; log: Log; ask: (r: VoteRequest) => Promise<{ epoch: number; granted: boolean }>; peer: PeerConnection; close: () => Promise<void> }> {
  const theLog = log ?? (await Log.open({ dataDir, commitPolicy: replicatedCommit, acknowledge: 'committed' }));
  const node = await ClusterNode.start({
    nodeId: 'v',
    listen: { host: '127.0.0.1', port: 0 },
    // Nobody listens there: the voter never wins an election of its own, and a long timeout keeps it from trying.
    peers: [
      { id: 'c1', address: c1Address ?? `127.0.0.1:${await freePort()}` },
      { id: 'c2', address: `127.0.0.1:${await freePort()}` },
    ],
    acks: 'quorum',
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    fetchMaxWaitMs: 100,
    fetchMaxBytes: 1 << 20,
    log: theLog,
    dataDir,
    logger,
  });
  const peer = new PeerConnection('v', '127.0.0.1', node.port, 1 << 20);
  t.after(() => peer.close());
  const ask = async (r: VoteRequest): Promise<{ epoch: number; granted: boolean }> => {
    const { epoch, granted } = decodeVoteResponse(await peer.request(API_VOTE, encodeVote(new Writer(), r), 5000));
    return { epoch, granted };
  };
  // Both closes are idempotent: a test that restarts a voter closes it itself, and the end of the
  // test closes whatever is still open (also after a failed assertion).
  const close = async (): Promise<void> => {
    await node.close();
    await theLog.close();
  };
  t.after(close);
  return { node, log: theLog, ask, peer, close };
}

/**
 * A voter that started with an empty data directory votes only once it knows an epoch it may have
 * voted in (forgotten-vote.ts): here from the leader c1 of `epoch`, which then resigns.
 */
async function learnEpochFromLeader(voter: { peer: PeerConnection }, epoch: number): Promise<void> {
  await voter.peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch }), 5000);
  await voter.peer.request(API_END_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch }), 5000);
}

test('one vote per epoch, kept across a restart (cluster.db is written before the answer)', async (t) => {
  const dir = tempDir(t);
  const first = await startVoter(t, dir);
  const empty = { epoch: -1, seq: 0 };
  await learnEpochFromLeader(first, 4);
  assert.deepEqual(await first.ask({ candidateId: 'c1', epoch: 5, last: empty, preVote: false }), { epoch: 5, granted: true });
  assert.deepEqual(await first.ask({ candidateId: 'c2', epoch: 5, last: empty, preVote: false }), { epoch: 5, granted: false });
  // The same candidate asking again (a lost answer) gets the same vote.
  assert.deepEqual(await first.ask({ candidateId: 'c1', epoch: 5, last: empty, preVote: false }), { epoch: 5, granted: true });
  await first.close();

  const restarted = await startVoter(t, dir);
  assert.equal(restarted.node.epoch, 5);
  assert.deepEqual(await restarted.ask({ candidateId: 'c2', epoch: 5, last: empty, preVote: false }), { epoch: 5, granted: false });
  assert.deepEqual(await restarted.ask({ candidateId: 'c2', epoch: 4, last: empty, preVote: false }), { epoch: 5, granted: false });
  assert.deepEqual(await restarted.ask({ candidateId: 'c2', epoch: 6, last: empty, preVote: false }), { epoch: 6, granted: true });
});

test('a candidate whose log is behind the voter is refused, in a pre-vote and a vote', async (t) => {
  const dir = tempDir(t);
  const log = await Log.open({ dataDir: dir, topics: [{ name: 'a', partitions: 1 }] });
  log.becomeClusterLeader(2);
  await log.append('a', 0, makeRecords(1));
  await log.append('a', 0, makeRecords(1));
  await log.close();
  const voter = await startVoter(t, dir);
  assert.deepEqual(voter.log.lastEntry(), { seq: 2, epoch: 2 });
  assert.equal((await voter.ask({ candidateId: 'c1', epoch: 3, last: { epoch: 2, seq: 1 }, preVote: true })).granted, false);
  assert.equal((await voter.ask({ candidateId: 'c1', epoch: 3, last: { epoch: 1, seq: 9 }, preVote: false })).granted, false);
  assert.equal((await voter.ask({ candidateId: 'c2', epoch: 3, last: { epoch: 2, seq: 2 }, preVote: false })).granted, true);
});

/** A listener that takes connections and never answers: a leader that is alive but slow (no refusal). */
async function silentListener(t: TestContext): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

test('a voter that follows a leader refuses other candidates and names the leader, so a node that lost track finds it; once the leader resigns it grants', async (t) => {
  const voter = await startVoter(t, tempDir(t), undefined, await silentListener(t));
  await voter.peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 3 }), 5000);
  assert.equal(voter.node.leaderId, 'c1');
  const answer = decodeVoteResponse(await voter.peer.request(API_VOTE, encodeVote(new Writer(), { candidateId: 'c2', epoch: 4, last: { epoch: -1, seq: 0 }, preVote: true }), 5000));
  assert.deepEqual(answer, { epoch: 3, granted: false, leaderId: 'c1' });

  // The leader resigns (a clean stop): no leader is alive any more, so the same pre-vote is granted.
  await voter.peer.request(API_END_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 3 }), 5000);
  assert.equal(voter.node.leaderId, null);
  const after = decodeVoteResponse(await voter.peer.request(API_VOTE, encodeVote(new Writer(), { candidateId: 'c2', epoch: 4, last: { epoch: -1, seq: 0 }, preVote: true }), 5000));
  assert.deepEqual(after, { epoch: 3, granted: true, leaderId: null });
});

test('a voter that knows nothing (empty log, no election state: new or wiped) grants no candidate with data, only an empty one; once it has an election state it votes by the usual rule', async (t) => {
  const dir = tempDir(t);
  const fresh = await startVoter(t, dir);
  const withData = { epoch: 1, seq: 5 };
  try {
    await learnEpochFromLeader(fresh, 1);
    assert.equal((await fresh.ask({ candidateId: 'c1', epoch: 2, last: withData, preVote: true })).granted, false);
    assert.equal((await fresh.ask({ candidateId: 'c1', epoch: 2, last: withData, preVote: false })).granted, false);
    assert.deepEqual(await fresh.ask({ candidateId: 'c2', epoch: 2, last: { epoch: -1, seq: 0 }, preVote: false }), { epoch: 2, granted: true });
  } finally {
    await fresh.close();
  }

  // A restart with epoch 2 in cluster.db: not a new node; a candidate ahead of its (empty) log is granted.
  const known = await startVoter(t, dir);
  assert.deepEqual(await known.ask({ candidateId: 'c1', epoch: 3, last: withData, preVote: false }), { epoch: 3, granted: true });
});

test('a follower whose leader refuses connections (its process is gone) forgets it and grants votes again, without waiting for its election timeout', async (t) => {
  const dir = tempDir(t);
  // Peers c1 (the leader, nothing listening at its address) and c2; an election timeout of a minute.
  const voter = await startVoter(t, dir);
  const announce = await voter.peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 1 }), 5000);
  assert.ok(announce);
  const candidate = { candidateId: 'c2', epoch: 2, last: { epoch: -1, seq: 0 }, preVote: true };
  const granted = await pollUntil(async () => (await voter.ask(candidate)).granted, WITHIN_TIMEOUT_MS, 50);
  assert.equal(granted, true, 'still refusing: it holds on to a leader that is gone');
  assert.equal(voter.node.leaderId, null);
});

test('a voter that starts with an empty data directory (new or wiped: it may have voted and forgotten it) grants no vote, not even to an empty candidate, until a leader tells it the epoch; then it never votes again in that epoch', async (t) => {
  const voter = await startVoter(t, tempDir(t));
  const empty = { epoch: -1, seq: 0 };
  // Before: it voted for anyone with an empty log, in any epoch, also one it had voted in before the wipe.
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: empty, preVote: true }), { epoch: 0, granted: false });
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: empty, preVote: false }), { epoch: 0, granted: false });
  assert.equal(voter.node.epoch, 0, 'a refused vote moves it to no epoch');

  await learnEpochFromLeader(voter, 3);
  assert.equal(voter.node.epoch, 3);
  // Its vote in epoch 3 counts as cast for the leader of 3: nobody else gets it.
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 3, last: empty, preVote: false }), { epoch: 3, granted: false });
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 4, last: empty, preVote: false }), { epoch: 4, granted: true });
});

test('a voter that starts with an empty data directory and hears from no leader learns the epoch from every other voter, not from some of them', async (t) => {
  const dir = tempDir(t);
  const log = await Log.open({ dataDir: dir, commitPolicy: replicatedCommit, acknowledge: 'committed' });
  // Two peers that answer every vote request (the voter's probe, then its pre-votes) with their epoch, refusing.
  const probes = { c1: 0, c2: 0 };
  const peerAt = async (id: 'c1' | 'c2', epoch: number, port = 0): Promise<ReplicationServer> => {
    const server = await ReplicationServer.start({
      host: '127.0.0.1',
      port,
      maxBytes: 1 << 20,
      logger: pino({ level: 'silent' }),
      handler: async (apiKey, body) => {
        assert.equal(apiKey, API_VOTE);
        decodeVote(body);
        probes[id]++;
        return encodeVoteResponse(new Writer(), { epoch, granted: false, leaderId: null });
      },
    });
    t.after(() => server.close());
    return server;
  };
  const c1 = await peerAt('c1', 7);
  const c2Port = await freePort();
  const node = await ClusterNode.start({
    nodeId: 'v',
    listen: { host: '127.0.0.1', port: 0 },
    peers: [
      { id: 'c1', address: `127.0.0.1:${c1.port}` },
      { id: 'c2', address: `127.0.0.1:${c2Port}` },
    ],
    acks: 'quorum',
    electionTimeoutMs: 200,
    fetchMaxWaitMs: 50,
    fetchMaxBytes: 1 << 20,
    log,
    dataDir: dir,
    logger: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await node.close();
    await log.close();
  });
  const peer = new PeerConnection('v', '127.0.0.1', node.port, 1 << 20);
  t.after(() => peer.close());
  const ask = async (r: VoteRequest): Promise<boolean> => decodeVoteResponse(await peer.request(API_VOTE, encodeVote(new Writer(), r), 5000)).granted;
  const candidate = (epoch: number): VoteRequest => ({ candidateId: 'c1', epoch, last: { epoch: -1, seq: 0 }, preVote: false });

  // c1 (a majority with the voter) answers, c2 is down: the voter keeps asking and grants nothing.
  await pollUntil(() => probes.c1 >= 3);
  assert.ok(probes.c1 >= 3, 'the voter asks its peers their epoch');
  const epoch = (): number => node.epoch;
  assert.equal(await ask(candidate(9)), false);
  assert.equal(epoch(), 0);

  // c2 answers too: the voter's vote counts as cast in the largest epoch answered (7); it votes above it.
  await peerAt('c2', 5, c2Port);
  const learned = await pollUntil(() => epoch() === 7);
  assert.equal(learned, true, `the voter did not learn the epoch (at ${epoch()})`);
  assert.equal(await ask(candidate(7)), false);
  assert.equal(await ask(candidate(8)), true);
});

test('a follower whose fetch the stopping leader answered NOT_LEADER (it forgot the leader) still takes that leader\'s resignation, and stands soon', async (t) => {
  // c1 leads epoch 3 and is stopping: it answers fetches NOT_LEADER, as a resigning leader answers
  // the fetches parked at it, before its EndQuorumEpoch arrives.
  const leader = await ReplicationServer.start({
    host: '127.0.0.1',
    port: 0,
    maxBytes: 1 << 20,
    logger: pino({ level: 'silent' }),
    handler: async (apiKey) => {
      if (apiKey !== API_FETCH) throw new Error('only fetches expected');
      return encodeFetchResponse(new Writer(), { error: NOT_LEADER, epoch: 3, leaderId: null, commitSeq: 0, diverging: null, entries: [] });
    },
  });
  t.after(() => leader.close());
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const voter = await startVoter(t, tempDir(t), undefined, `127.0.0.1:${leader.port}`, logger);
  await voter.peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 3 }), 5000);
  await pollUntil(() => voter.node.leaderId === null, WITHIN_TIMEOUT_MS);
  assert.equal(voter.node.leaderId, null, 'the NOT_LEADER answer made it forget c1');

  await voter.peer.request(API_END_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 3 }), 5000);
  assert.ok(
    lines.some((l) => l.includes('the cluster leader resigned')),
    'the resignation was taken (its election comes after a quarter of the timeout, not a whole one)',
  );
});

test('a voter formatted by init with an empty log is new: it votes at once by the usual rule, for an empty candidate and for one with data (a former single node)', async (t) => {
  const dir = tempDir(t);
  ElectionState.format(dir, { cluster: null, nodeId: 'v' });
  const voter = await startVoter(t, dir);
  const withData = { epoch: 0, seq: 40 };
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: withData, preVote: true }), { epoch: 0, granted: true });
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: withData, preVote: false }), { epoch: 1, granted: true });
  // One vote per epoch still: c2 is refused in 1, granted (empty) in 2.
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 1, last: { epoch: -1, seq: 0 }, preVote: false }), { epoch: 1, granted: false });
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 2, last: { epoch: -1, seq: 0 }, preVote: false }), { epoch: 2, granted: true });
});

test('a wiped voter restarted before it learned an epoch is still wiped (cluster.db made at its last start, epoch 0, no vote): it grants nothing', async (t) => {
  const dir = tempDir(t);
  const first = await startVoter(t, dir);
  await first.close();
  const voter = await startVoter(t, dir);
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: { epoch: -1, seq: 0 }, preVote: false }), { epoch: 0, granted: false });
});

test('a data directory formatted for another node id is refused at start (TRIB_CLUSTER_STATE)', async (t) => {
  const dir = tempDir(t);
  ElectionState.format(dir, { cluster: null, nodeId: 'someone-else' });
  const log = await Log.open({ dataDir: dir, commitPolicy: replicatedCommit, acknowledge: 'committed' });
  t.after(() => log.close());
  await assert.rejects(startVoter(t, dir, log), { code: 'TRIB_CLUSTER_STATE', message: /formatted for node 'someone-else', but cluster.nodeId is 'v'/ });
});

test('a formatted voter asked under another directory id than its own (a peer knew it before it was initialised again) refuses, then votes as a wiped node, also after a restart, until a leader names its directory', async (t) => {
  const dir = tempDir(t);
  ElectionState.format(dir, { cluster: null, nodeId: 'v' });
  const first = await startVoter(t, dir);
  const empty = { epoch: -1, seq: 0 };
  const withData = { epoch: 1, seq: 40 };
  // Addressed to its own directory id (or to none): a new voter, it grants at once.
  const own = first.node.status().directoryId!;
  assert.deepEqual(await first.ask({ candidateId: 'c1', epoch: 1, last: withData, preVote: true, voterDirectoryId: own }), { epoch: 0, granted: true });
  // c1 knew it under a former directory: refused, and from now on it is a wiped voter.
  assert.deepEqual(await first.ask({ candidateId: 'c1', epoch: 1, last: withData, preVote: false, voterDirectoryId: 'former-directory' }), { epoch: 0, granted: false });
  assert.equal(first.node.status().directoryReplaced, true);
  assert.deepEqual(await first.ask({ candidateId: 'c2', epoch: 1, last: empty, preVote: false }), { epoch: 0, granted: false }, 'it forgot its votes: none until it learns the epoch');
  await first.close();

  const voter = await startVoter(t, dir);
  assert.equal(voter.node.status().directoryReplaced, true, 'the mark is durable');
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 1, last: empty, preVote: false }), { epoch: 0, granted: false });
  await learnEpochFromLeader(voter, 3);
  // It knows the epoch now, but not what the cluster committed: only an empty candidate.
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 4, last: withData, preVote: false }), { epoch: 4, granted: false });
  assert.deepEqual(await voter.ask({ candidateId: 'c2', epoch: 5, last: empty, preVote: false }), { epoch: 5, granted: true });
});

test('a candidate presenting another directory id than the one the voter knows for it is refused; the known one, or none (an older node), is not', async (t) => {
  const dir = tempDir(t);
  ElectionState.format(dir, { cluster: null, nodeId: 'v' });
  const state = ElectionState.open(dir);
  state.setVoterDirectory('c1', 'c1-directory');
  state.close();
  const voter = await startVoter(t, dir);
  const empty = { epoch: -1, seq: 0 };
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: empty, preVote: true, candidateDirectoryId: 'another-directory' }), { epoch: 0, granted: false });
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: empty, preVote: true, candidateDirectoryId: 'c1-directory' }), { epoch: 0, granted: true });
  assert.deepEqual(await voter.ask({ candidateId: 'c1', epoch: 1, last: empty, preVote: true }), { epoch: 0, granted: true });
  assert.equal(voter.node.status().directoryReplaced, false);
});

test('a follower stores what it fetched byte for byte though the answer\'s buffer went to its writer thread, and tells its listeners of the internal topics\' entries only, readable after the store', async (t) => {
  // The entries c1 serves: a telemetry batch and a replicated-state record, as a log stores them.
  const source = await Log.open({ dataDir: tempDir(t) });
  t.after(() => source.close());
  await source.createTopic('telemetry', 1);
  await source.createTopic('__tributary_retained', 1);
  await source.append('telemetry', 0, makeRecords(50, 'big'));
  await source.append('__tributary_retained', 0, [{ timestamp: 1, key: Buffer.from('a/b'), value: Buffer.from('state'), headers: [] }]);
  await source.append('telemetry', 0, makeRecords(3, 'small'));
  const served = source.readEntries(0, 1 << 20);
  const leader = await ReplicationServer.start({
    host: '127.0.0.1',
    port: 0,
    maxBytes: 1 << 20,
    logger: pino({ level: 'silent' }),
    handler: async (apiKey, body) => {
      if (apiKey !== API_FETCH) throw new Error('only fetches expected');
      const fetch = decodeFetch(body);
      const entries = served.filter((e) => e.seq > fetch.last.seq);
      if (entries.length === 0) await new Promise((r) => setTimeout(r, fetch.maxWaitMs));
      return encodeFetchResponse(new Writer(), { error: NONE, epoch: 3, leaderId: 'c1', commitSeq: served.length, diverging: null, entries, logStarts: [] });
    },
  });
  t.after(() => leader.close());
  const voter = await startVoter(t, tempDir(t), undefined, `127.0.0.1:${leader.port}`);
  const told: Array<{ topic: string; records: string[] }> = [];
  voter.node.onEntriesFetched((entries) => {
    for (const e of entries) told.push({ topic: e.topic, records: decodeBatch(e.batch).records.map((r) => `${r.key}=${r.value}`) });
  });
  await voter.peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 3 }), 5000);
  for (let i = 0; i < 2000 && voter.log.lastEntry().seq < served.length; i++) await new Promise((r) => setTimeout(r, 10));
  const stored = voter.log.readEntries(0, 1 << 20);
  assert.deepEqual(
    stored.map((e) => [e.seq, e.topic, e.partition, e.batch.toString('hex')]),
    served.map((e) => [e.seq, e.topic, e.partition, e.batch.toString('hex')]),
  );
  assert.deepEqual(told, [{ topic: '__tributary_retained', records: ['a/b=state'] }]);
});

test('a forward (cluster.followers: forward) to a node that does not lead is answered NOT_LEADER with the leader it knows, and nothing is appended there', async (t) => {
  const voter = await startVoter(t, tempDir(t), undefined, await silentListener(t));
  let handed = 0;
  voter.node.takeForwards(async () => ++handed);
  await voter.peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: 'c1', epoch: 3 }), 5000);
  const forward = { replicaId: 'c2', epoch: 3, topic: 'mqtt', partition: 0, createPartitions: 0, batch: encodeBatch(makeRecords(2)) };
  const answer = decodeForwardResponse(await voter.peer.request(API_FORWARD, encodeForward(new Writer(), forward), 5000));
  assert.deepEqual({ error: answer.error, epoch: answer.epoch, leaderId: answer.leaderId }, { error: FORWARD_NOT_LEADER, epoch: 3, leaderId: 'c1' });
  assert.equal(handed, 0, 'a follower appends no forward');
});

test('an unknown replication API (a peer of another version) closes the connection, logged as TRIB_CLUSTER_MALFORMED naming the API', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const voter = await startVoter(t, tempDir(t), undefined, undefined, logger);
  await assert.rejects(voter.peer.request(999, new Writer().int32(1), 5000));
  const line = lines.find((l) => l.includes('replication request failed'));
  assert.ok(line !== undefined, 'the refusal is logged');
  assert.match(line, /"code":"TRIB_CLUSTER_MALFORMED"/);
  assert.match(line, /unknown replication API 999/);
});
