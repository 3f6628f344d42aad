// A witness as a voter (bridge/cluster/witness.ts), over its real replication listener; requests
// are sent as a data node would send them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { API_BEGIN_QUORUM_EPOCH, API_END_QUORUM_EPOCH, API_FETCH, API_VOTE, decodeFetchResponse, decodeVoteResponse, encodeBeginQuorumEpoch, encodeFetch, encodeVote, NOT_LEADER, Writer, type VoteRequest } from '../../../bridge/cluster/messages.js';
import { PositionLog } from '../../../bridge/cluster/position-log.js';
import { PeerConnection, type ReplicationTls } from '../../../bridge/cluster/transport.js';
import { Witness } from '../../../bridge/cluster/witness.js';
import { freePort } from '../../helpers/cli.js';
import { makeNamedPki } from '../../helpers/pki.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { pollUntil } from '../../helpers/wait-for.js';

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

async function startWitness(t: TestContext, dataDir: string, aAddress?: string, logger: pino.Logger = pino({ level: 'silent' })): Promise<{ witness: Witness; ask: (r: VoteRequest) => Promise<boolean>; peer: PeerConnection }> {
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
    logger,
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

test('a witness under cluster.tls: only a certificate of the cluster\'s CA naming a data node gets in, each request only for the id its certificate names; every refusal is logged (TRIB_CLUSTER_PEER_REFUSED)', async (t) => {
  const pki = makeNamedPki(t, ['w', 'a', 'b', 'intruder']);
  const rogue = makeNamedPki(t, ['a']);
  const tlsOf = (of: { ca: string; certs: Record<string, { cert: string; key: string }> }, name: string): ReplicationTls => ({ cert: readFileSync(of.certs[name]!.cert), key: readFileSync(of.certs[name]!.key), ca: readFileSync(of.ca) });
  const lines: string[] = [];
  const witness = await Witness.start({
    nodeId: 'w',
    listen: { host: '127.0.0.1', port: 0 },
    // a takes connections and never answers: the witness follows it without forgetting it.
    peers: [
      { id: 'a', address: await silentListener(t) },
      { id: 'b', address: `127.0.0.1:${await freePort()}` },
    ],
    electionTimeoutMs: 60_000,
    fetchMaxWaitMs: 100,
    dataDir: tempDir(t),
    logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    tls: tlsOf(pki, 'w'),
  });
  t.after(() => witness.close());
  const send = async (tls: ReplicationTls | null, api: number, body: Writer): Promise<unknown> => {
    const connection = new PeerConnection('w', '127.0.0.1', witness.port, 1 << 20, tls);
    try {
      return await connection.request(api, body, 5000);
    } finally {
      connection.close();
    }
  };
  const logged = (...parts: string[]): number => lines.filter((l) => l.includes('TRIB_CLUSTER_PEER_REFUSED') && parts.every((p) => l.includes(p))).length;
  /** How many more such lines than `at` (waiting, bounded, for the first: a loaded machine writes it late). */
  const refusals = async (at: number, ...parts: string[]): Promise<number> => {
    await pollUntil(() => logged(...parts) !== at);
    return logged(...parts) - at;
  };
  const begin = (leaderId: string): Writer => encodeBeginQuorumEpoch(new Writer(), { leaderId, epoch: 2 });
  const vote = (candidateId: string): Writer => encodeVote(new Writer(), { candidateId, epoch: 3, last: { epoch: -1, seq: 0 }, preVote: false });
  const fetch = (replicaId: string): Writer => encodeFetch(new Writer(), { replicaId, epoch: 2, last: { epoch: -1, seq: 0 }, maxWaitMs: 0, maxBytes: 1 << 20 });

  // a's certificate speaking for b: announcing b as leader, asking a vote for b, fetching as b.
  for (const [api, body] of [[API_BEGIN_QUORUM_EPOCH, begin('b')], [API_VOTE, vote('b')], [API_FETCH, fetch('b')]] as const) {
    const at = logged("claims to come from 'b'", "names 'a'");
    await assert.rejects(send(tlsOf(pki, 'a'), api, body), `API ${api} claiming b over a's certificate`);
    assert.equal(await refusals(at, "claims to come from 'b'", "names 'a'"), 1, `API ${api} refused and logged`);
  }
  assert.equal(witness.status().leaderId, null, 'the forged announcement changed nothing');
  assert.equal(witness.status().epoch, 0);

  // The control: a's certificate speaking for a is answered, and the announcement taken.
  await send(tlsOf(pki, 'a'), API_BEGIN_QUORUM_EPOCH, begin('a'));
  assert.equal(witness.status().leaderId, 'a');
  assert.equal(witness.status().epoch, 2);

  // Without TLS, with another CA's certificate, with the CA's certificate naming no data node.
  let at = logged("cluster's CA");
  await assert.rejects(send(null, API_VOTE, vote('a')), 'plain TCP');
  assert.ok((await refusals(at, "cluster's CA")) > 0, 'a client without TLS is logged');
  at = logged("cluster's CA");
  await assert.rejects(send(tlsOf(rogue, 'a'), API_VOTE, vote('a')), 'another CA\'s certificate naming a');
  assert.ok((await refusals(at, "cluster's CA")) > 0, 'another CA\'s certificate is logged');
  await assert.rejects(send(tlsOf(pki, 'intruder'), API_VOTE, vote('intruder')), 'a certificate naming no data node');
  assert.equal(await refusals(0, 'names no peer', '"intruder"'), 1, 'logged, with the names');
});

test('an unknown replication API (a peer of another version) closes the witness\'s connection, logged as TRIB_CLUSTER_MALFORMED naming the API, as on a data node', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const { witness, peer } = await startWitness(t, tempDir(t), undefined, logger);
  t.after(() => witness.close());
  await assert.rejects(peer.request(999, new Writer().int32(1), 5000));
  const line = lines.find((l) => l.includes('replication request failed'));
  assert.ok(line !== undefined, 'the refusal is logged');
  assert.match(line, /"code":"TRIB_CLUSTER_MALFORMED"/);
  assert.match(line, /unknown replication API 999/);
});
