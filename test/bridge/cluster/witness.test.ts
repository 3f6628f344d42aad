// A witness as a voter (bridge/cluster/witness.ts), over its real replication listener; requests
// are sent as a data node would send them.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { API_BEGIN_QUORUM_EPOCH, API_END_QUORUM_EPOCH, API_FETCH, API_VOTE, decodeFetchResponse, decodeVoteResponse, encodeBeginQuorumEpoch, encodeFetch, encodeVote, NOT_LEADER, Writer, type VoteRequest } from '../../../bridge/cluster/messages.js';
import { PositionLog } from '../../../bridge/cluster/position-log.js';
import { PeerConnection } from '../../../bridge/cluster/transport.js';
import { Witness } from '../../../bridge/cluster/witness.js';
import { freePort } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp-dir.js';

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

async function startWitness(t: TestContext, dataDir: string, aAddress?: string): Promise<{ witness: Witness; ask: (r: VoteRequest) => Promise<boolean>; peer: PeerConnection }> {
  const witness = await Witness.start({
    nodeId: 'w',
    listen: { host: '127.0.0.1', port: 0 },
    // Nobody listens there: announcements lead to no fetches, and a long timeout keeps it from probing.
    peers: [
      { id: 'a', address: aAddress ?? `127.0.0.1:${await freePort()}` },
      { id: 'b', address: `127.0.0.1:${await freePort()}` },
    ],
    electionTimeoutMs: 60_000,
    fetchMaxWaitMs: 100,
    dataDir,
    logger: pino({ level: 'silent' }),
  });
  const peer = new PeerConnection('a', '127.0.0.1', witness.port, 1 << 20);
  t.after(() => peer.close());
  const ask = async (r: VoteRequest): Promise<boolean> => decodeVoteResponse(await peer.request(API_VOTE, encodeVote(new Writer(), r), 5000)).granted;
  return { witness, ask, peer };
}

const announce = (peer: PeerConnection, api: number, leaderId: string, epoch: number): Promise<unknown> => peer.request(api, encodeBeginQuorumEpoch(new Writer(), { leaderId, epoch }), 5000);

test('a witness votes by the data nodes\' rules against its header log: refuses a candidate behind it, votes once per epoch (kept across a restart), and never leads (a fetch at it is answered NOT_LEADER)', async (t) => {
  const dir = tempDir(t);
  const positions = PositionLog.open(dir);
  positions.append([{ seq: 7, epoch: 2, topic: 'mqtt', partition: 0, baseOffset: 0, lastOffset: 9, size: 120 }]);
  positions.close();
  const first = await startWitness(t, dir);
  // Not an empty data directory (it holds headers): it votes without first learning the epoch.
  assert.equal(await first.ask({ candidateId: 'a', epoch: 3, last: { epoch: 2, seq: 6 }, preVote: true }), false);
  assert.equal(await first.ask({ candidateId: 'a', epoch: 3, last: { epoch: 1, seq: 50 }, preVote: false }), false);
  assert.equal(await first.ask({ candidateId: 'b', epoch: 3, last: { epoch: 2, seq: 7 }, preVote: false }), true);
  assert.equal(await first.ask({ candidateId: 'a', epoch: 3, last: { epoch: 3, seq: 9 }, preVote: false }), false);
  const fetched = decodeFetchResponse(await first.peer.request(API_FETCH, encodeFetch(new Writer(), { replicaId: 'a', epoch: 3, last: { epoch: 2, seq: 7 }, maxWaitMs: 0, maxBytes: 1 << 20 }), 5000));
  assert.equal(fetched.error, NOT_LEADER);
  await first.witness.close();

  const again = await startWitness(t, dir);
  t.after(() => again.witness.close());
  assert.equal(again.witness.status().epoch, 3);
  assert.equal(await again.ask({ candidateId: 'a', epoch: 3, last: { epoch: 3, seq: 9 }, preVote: false }), false);
  assert.equal(await again.ask({ candidateId: 'a', epoch: 4, last: { epoch: 3, seq: 9 }, preVote: false }), true);
});

test('a witness with an empty data directory votes for nobody until a leader tells it the epoch; while it hears from that leader it refuses others', async (t) => {
  const { witness, ask, peer } = await startWitness(t, tempDir(t), await silentListener(t));
  t.after(() => witness.close());
  const empty = { epoch: -1, seq: 0 };
  assert.equal(await ask({ candidateId: 'a', epoch: 1, last: empty, preVote: false }), false);
  await announce(peer, API_BEGIN_QUORUM_EPOCH, 'a', 2);
  assert.equal(witness.status().leaderId, 'a');
  assert.equal(await ask({ candidateId: 'b', epoch: 3, last: empty, preVote: true }), false, 'check-quorum: a live leader');
  await announce(peer, API_END_QUORUM_EPOCH, 'a', 2);
  assert.equal(await ask({ candidateId: 'b', epoch: 2, last: empty, preVote: false }), false, 'its vote in epoch 2 counts as cast for the leader of 2');
  assert.equal(await ask({ candidateId: 'b', epoch: 3, last: empty, preVote: false }), true);
});
