// Mutual TLS on the replication listener (cluster.tls, docs/security.md) with three real
// `tributary start` processes on loopback: nodes whose certificates the cluster's CA signed form
// the cluster; a node with another CA's certificate, a client without TLS, a certificate that names
// no peer and a request that claims another node's id are refused, each logged with
// TRIB_CLUSTER_PEER_REFUSED.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { API_VOTE, decodeVoteResponse, encodeVote, Writer } from '../../bridge/cluster/messages.js';
import { PeerConnection } from '../../bridge/cluster/transport.js';
import { sample } from '../helpers/metrics-text.js';
import { makeNamedPki } from '../helpers/pki.js';
import { startReplicas, storedValues, waitForLeader, waitForReplicated, type Replica } from '../helpers/replicas.js';
import { pollUntil } from '../helpers/wait-for.js';

const tlsYaml = (files: { cert: string; key: string }, ca: string): string => `  tls: { cert: ${JSON.stringify(files.cert)}, key: ${JSON.stringify(files.key)}, ca: ${JSON.stringify(ca)} }`;

/** The replication port a replica listens on, from its config file (beside its data directory). */
function clusterPort(replica: Replica): number {
  return Number(/listen: \{ host: 127\.0\.0\.1, port: (\d+) \}/.exec(readFileSync(`${replica.dir}.yaml`, 'utf8'))![1]);
}

async function refusedLines(replica: Replica, pattern: RegExp, before: number): Promise<number> {
  const count = (): number => replica.output().split('\n').filter((l) => l.includes('TRIB_CLUSTER_PEER_REFUSED') && pattern.test(l)).length - before;
  await pollUntil(() => count() !== 0); // a loaded machine writes the line late
  return count();
}

test('mutual TLS between the nodes: a node with another CA\'s certificate is refused and the other two replicate; with the cluster\'s certificate it joins and catches up; a client without TLS, a certificate naming no peer and a request claiming another id are refused (TRIB_CLUSTER_PEER_REFUSED)', async (t) => {
  const pki = makeNamedPki(t, ['n1', 'n2', 'n3', 'intruder']);
  const rogue = makeNamedPki(t, ['n3']);
  // Initialised nodes (startReplicas runs `tributary cluster init`) elect without every voter up:
  // n1 and n2 start, n3 starts with a certificate another CA signed.
  const replicas = await startReplicas(t, 3, { clusterYaml: (id) => tlsYaml(pki.certs[id]!, pki.ca), start: ['n1', 'n2'] });
  const [n1, n2, n3] = replicas as [Replica, Replica, Replica];
  const n3Config = `${n3.dir}.yaml`;
  writeFileSync(n3Config, readFileSync(n3Config, 'utf8').replace(tlsYaml(pki.certs.n3!, pki.ca), tlsYaml(rogue.certs.n3!, rogue.ca)));
  await n3.restart();

  // n1 and n2 have a leader and take publishes; n3, whose certificate another CA signed, gets nothing.
  const leader = await waitForLeader([n1, n2]);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${leader.mqttPort}`, { clientId: 'tls-publisher', reconnectPeriod: 0 });
  await Promise.all(Array.from({ length: 20 }, (_, i) => client.publishAsync('plant/line/power', `m-${i}`, { qos: 1 })));
  await client.endAsync(true);
  await waitForReplicated([n1, n2], (await leader.status())!.last.seq);
  assert.equal((await n3.status())!.last.seq, 0, 'n3 holds nothing');
  assert.equal((await n3.status())!.leaderId, null, 'n3 follows no one');
  assert.ok((await refusedLines(leader, /cluster's CA/, 0)) > 0, `the leader refused n3's handshake:\n${leader.output().slice(-2000)}`);

  // The leader names n3 as the peer that refuses it (status and metric), and the refusals are
  // logged once per cause on each side, not once per attempt (the leader retries its announcement).
  let refusing: { id: string; cause: string } | undefined;
  await pollUntil(async () => (refusing = (await leader.status())?.refusingPeers?.find((p) => p.id === 'n3')) !== undefined);
  assert.ok(refusing !== undefined, `the leader's status names n3: ${JSON.stringify(await leader.status())}`);
  const metrics = await (await fetch(`http://127.0.0.1:${leader.httpPort}/metrics`)).text();
  assert.equal(sample(metrics, 'tributary_cluster_peer_refusing{peer="n3"}'), 1);
  for (const node of [n3, leader]) {
    const causes = node
      .output()
      .split('\n')
      .filter((l) => l.includes('TRIB_CLUSTER_PEER_REFUSED'))
      .map((l) => {
        const line = JSON.parse(l) as { remote?: string; peer?: string; reason?: string; cause?: string; names?: string[] };
        return `${line.remote ?? line.peer} ${line.reason ?? line.cause ?? line.names?.join()}`;
      });
    assert.ok(causes.length > 0, `${node.id} logs the refusal`);
    assert.equal(new Set(causes).size, causes.length, `${node.id} logs each refusal once per cause:\n${causes.join('\n')}`);
  }

  // Clients of the listener, from here: without TLS; with a certificate of the CA that names no
  // peer; with n2's certificate, claiming to be n3; and (the control) claiming to be n2.
  const port = clusterPort(leader);
  const tlsOf = (files: { cert: string; key: string }): { cert: Buffer; key: Buffer; ca: Buffer } => ({ cert: readFileSync(files.cert), key: readFileSync(files.key), ca: readFileSync(pki.ca) });
  const vote = (candidateId: string): Writer => encodeVote(new Writer(), { candidateId, epoch: 1_000, last: { epoch: -1, seq: 0 }, preVote: true });
  const ask = async (tls: ReturnType<typeof tlsOf> | null, candidateId: string): Promise<unknown> => {
    const connection = new PeerConnection(leader.id, '127.0.0.1', port, 1 << 20, tls);
    try {
      return decodeVoteResponse(await connection.request(API_VOTE, vote(candidateId), 3000));
    } finally {
      connection.close();
    }
  };
  const outputBefore = (pattern: RegExp): number => leader.output().split('\n').filter((l) => l.includes('TRIB_CLUSTER_PEER_REFUSED') && pattern.test(l)).length;

  let before = outputBefore(/cluster's CA/);
  await assert.rejects(ask(null, 'n2'), 'plain TCP gets no answer');
  assert.ok((await refusedLines(leader, /cluster's CA/, before)) > 0, 'a client without TLS is logged');

  before = outputBefore(/names no peer/);
  await assert.rejects(ask(tlsOf(pki.certs.intruder!), 'intruder'), 'a certificate that names no peer');
  assert.ok((await refusedLines(leader, /names no peer/, before)) > 0, 'logged, with the names');

  before = outputBefore(/claims to come from/);
  await assert.rejects(ask(tlsOf(pki.certs.n2!), 'n3'), 'n2 claiming to be n3');
  assert.ok((await refusedLines(leader, /claims to come from/, before)) > 0, 'logged');

  const answer = (await ask(tlsOf(pki.certs.n2!), 'n2')) as { granted: boolean };
  assert.equal(answer.granted, false, 'n2 speaking for itself is answered (and refused its vote: the leader is alive)');

  // n3 with the cluster's certificate: it joins and catches up.
  const config = `${n3.dir}.yaml`;
  writeFileSync(config, readFileSync(config, 'utf8').replace(tlsYaml(rogue.certs.n3!, rogue.ca), tlsYaml(pki.certs.n3!, pki.ca)));
  await n3.restart();
  const same = await waitForLeader(replicas);
  await waitForReplicated(replicas, (await same.status())!.last.seq);
  assert.deepEqual(storedValues(n3).sort(), storedValues(same).sort());
});
