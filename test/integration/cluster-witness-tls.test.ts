// Two data nodes and a witness, all with cluster.tls (docs/security.md, "The replication
// listener"): real `tributary start` ×2 and `tributary witness` on loopback, MQTT.js publishers.
// With the cluster's certificates they elect and acknowledge, and `tributary cluster status` marks
// the witness; a witness with another CA's certificate is refused on both sides, logged with
// TRIB_CLUSTER_PEER_REFUSED, and the two data nodes are then a majority only together.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCliAsync } from '../helpers/cli.js';
import { makeNamedPki } from '../helpers/pki.js';
import { startReplicasWithWitness, storedValues, waitForLeader, waitForReplicated, type Replica, publishAll } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const tlsYaml = (files: { cert: string; key: string }, ca: string): string => `  tls: { cert: ${JSON.stringify(files.cert)}, key: ${JSON.stringify(files.key)}, ca: ${JSON.stringify(ca)} }`;

/** Lines a process logged with TRIB_CLUSTER_PEER_REFUSED that contain `part`. */
const refusals = (replica: Replica, part: string): number => replica.output().split('\n').filter((l) => l.includes('TRIB_CLUSTER_PEER_REFUSED') && l.includes(part)).length;

async function waitFor(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  if (!(await pollUntil(condition, PATIENCE_MS, 25))) assert.fail(`timed out waiting until ${what}`);
}

/** Swaps one cluster.tls line for another in a process's config file (beside its data directory). */
function swapTls(replica: Replica, from: string, to: string): void {
  const file = `${replica.dir}.yaml`;
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `${file} has the expected cluster.tls`);
  writeFileSync(file, text.replace(from, to));
}

test('two data nodes and a witness, all with cluster.tls: a data node is elected and acknowledges QoS 1 publishes, the witness holds every header, nothing is refused; `tributary cluster status` marks the witness among the leader\'s followers and, asked of the witness, prints its view', async (t) => {
  const pki = makeNamedPki(t, ['n1', 'n2', 'w']);
  const { replicas, witness } = await startReplicasWithWitness(t, { clusterYaml: (id) => tlsYaml(pki.certs[id]!, pki.ca) });
  const leader = await waitForLeader([...replicas, witness]);
  assert.notEqual(leader.id, 'w');
  const follower = replicas.find((r) => r !== leader)!;

  const acked = await publishAll(leader.mqttPort, 'tls', 50);
  await waitForReplicated([...replicas, witness], (await leader.status())!.last.seq);
  for (const r of replicas) assert.deepEqual(storedValues(r).sort(), [...acked].sort(), `${r.id} holds every message once`);
  for (const p of [...replicas, witness]) assert.equal(refusals(p, ''), 0, `${p.id} refused a peer:\n${p.output().slice(-2000)}`);

  const atLeader = await runCliAsync(['cluster', 'status', '--url', `http://127.0.0.1:${leader.httpPort}`]);
  assert.equal(atLeader.status, 0, atLeader.stderr);
  assert.match(atLeader.stdout, /^FOLLOWER\s+POSITION\s+LAG\s+LAST FETCH\s+KIND\s+IN SYNC$/m);
  assert.match(atLeader.stdout, /^w\s+\d+\s+\d+\s+.*\s+witness\s+(yes|no)$/m, atLeader.stdout);
  assert.match(atLeader.stdout, new RegExp(`^${follower.id}\\s+\\d+\\s+\\d+\\s+.*\\s+data\\s+(yes|no)$`, 'm'), atLeader.stdout);

  const atWitness = await runCliAsync(['cluster', 'status', '--url', `http://127.0.0.1:${witness.httpPort}`]);
  assert.equal(atWitness.status, 0, atWitness.stderr);
  const epoch = (await leader.status())!.epoch;
  assert.match(atWitness.stdout, new RegExp(`^w\\s+witness\\s+${epoch}\\s+${leader.id}\\s+\\d+ \\(epoch ${epoch}\\)`, 'm'), atWitness.stdout);
  assert.match(atWitness.stdout, /holds entry headers, no records/);
  assert.doesNotMatch(atWitness.stdout, /undefined/);
});

test('a witness with another CA\'s certificate is refused, logged on both sides (TRIB_CLUSTER_PEER_REFUSED); the two data nodes, a majority of three only together, acknowledge while both run, and with one stopped the other steps down; given the cluster\'s certificate the witness joins and catches up', async (t) => {
  const pki = makeNamedPki(t, ['n1', 'n2', 'w']);
  const rogue = makeNamedPki(t, ['w']);
  const { replicas, witness } = await startReplicasWithWitness(t, { clusterYaml: (id) => tlsYaml(pki.certs[id]!, pki.ca) });
  // A new cluster's first election needs every voter (docs/replication.md, "A wiped node's vote"),
  // so the three form it first; then the witness comes back wiped, with another CA's certificate.
  await waitForLeader([...replicas, witness]);
  await witness.kill();
  rmSync(witness.dir, { recursive: true, force: true });
  swapTls(witness, tlsYaml(pki.certs.w!, pki.ca), tlsYaml(rogue.certs.w!, rogue.ca));
  await witness.restart();

  // Wiped, it asks every voter's epoch: the data nodes refuse its handshake.
  await waitFor('a data node refuses the witness', () => replicas.some((r) => refusals(r, "cluster's CA") > 0));

  // Both data nodes running: two of three voters, a majority. They lead and acknowledge.
  const leader = await waitForLeader(replicas);
  const other = replicas.find((r) => r !== leader)!;
  const first = await publishAll(leader.mqttPort, 'both', 20);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  for (const r of replicas) assert.deepEqual(storedValues(r).filter((v) => v.startsWith('both-')).sort(), [...first].sort());
  const w = (await witness.status())!;
  assert.equal(w.leaderId, null, 'the refused witness follows no one');
  assert.equal(w.last.seq, 0, 'and holds no header');

  // One data node stopped: the leader hears from no majority (the witness is refused) and steps down.
  await other.kill();
  await waitFor('the leader steps down', async () => (await leader.status())?.role !== 'leader');
  assert.match(leader.output(), /heard from no majority within the election timeout; stepping down/);
  // Its requests to the witness (the announcement, then votes) fail the witness's handshake.
  await waitFor('the witness refuses a data node', () => refusals(witness, "cluster's CA") > 0);

  // Both data nodes again: they elect one and acknowledge.
  await other.restart();
  const again = await waitForLeader(replicas);
  const second = await publishAll(again.mqttPort, 'again', 20);
  await waitForReplicated(replicas, (await again.status())!.last.seq);

  // The witness with the cluster's certificate: it joins and holds every header.
  await witness.kill();
  swapTls(witness, tlsYaml(rogue.certs.w!, rogue.ca), tlsYaml(pki.certs.w!, pki.ca));
  await witness.restart();
  const last = await waitForLeader([...replicas, witness]);
  await waitForReplicated([...replicas, witness], (await last.status())!.last.seq);
  for (const r of replicas) {
    const held = new Set(storedValues(r));
    assert.deepEqual([...first, ...second].filter((p) => !held.has(p)), [], `${r.id} lacks acknowledged messages`);
  }
});
