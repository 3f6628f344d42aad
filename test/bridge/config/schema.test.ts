// The cluster block at the config door (docs/configuration.md, docs/replication.md).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigInvalidError } from '../../../bridge/config/errors.js';
import { loadConfig, loadWitnessConfig } from '../../../bridge/config/load.js';
import type { Config, WitnessConfig } from '../../../bridge/config/schema.js';
import { tempDir } from '../../helpers/temp-dir.js';

function load(t: TestContext, yaml: string): Config {
  const file = join(tempDir(t), 'cluster.yaml');
  writeFileSync(file, yaml);
  return loadConfig({ file, env: {} });
}

function problems(t: TestContext, yaml: string): Record<string, string> {
  try {
    load(t, yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, String(err));
    return Object.fromEntries(err.problems.map((p) => [p.key, p.message]));
  }
  assert.fail('the config was accepted');
}

test('no cluster block: one node (cluster is null)', (t) => {
  assert.equal(load(t, 'dataDir: ./d\n').cluster, null);
});

test('a three-node cluster block gets its defaults', (t) => {
  const c = load(t, `cluster:
  nodeId: gw-a
  peers:
    - { id: gw-b, address: 10.0.0.12:9093 }
    - { id: gw-c, address: "[fd00::3]:9093" }
`).cluster;
  assert.deepEqual(c, {
    nodeId: 'gw-a',
    name: null,
    listen: { host: '0.0.0.0', port: 9093 },
    peers: [
      { id: 'gw-b', address: '10.0.0.12:9093', witness: false, kafka: null },
      { id: 'gw-c', address: '[fd00::3]:9093', witness: false, kafka: null },
    ],
    acks: 'quorum',
    electionTimeoutMs: 1500,
    fetchMaxWaitMs: 250,
    fetchMaxBytes: 4 * 1024 * 1024,
    tls: null,
    followers: 'refuse',
  });
});

test('cluster.tls needs cert, key and ca (mutual TLS between the nodes); an unknown key in it is refused, naming it', (t) => {
  const block = (tls: string): string => `cluster: { nodeId: a, peers: [{ id: b, address: "h:1" }, { id: c, address: "h:2" }], tls: ${tls} }\n`;
  assert.deepEqual(load(t, block('{ cert: a.pem, key: a.key, ca: ca.pem }')).cluster?.tls, { cert: 'a.pem', key: 'a.key', ca: 'ca.pem' });
  const missing = problems(t, block('{ cert: a.pem, key: a.key }'));
  assert.ok('cluster.tls.ca' in missing, JSON.stringify(missing));
  const unknown = problems(t, block('{ cert: a.pem, key: a.key, ca: ca.pem, verify: false }'));
  assert.match(JSON.stringify(unknown), /verify/);
});

test('two voters alone are refused, naming the key', (t) => {
  const found = problems(t, 'cluster: { nodeId: a, peers: [{ id: b, address: "h:1" }] }\n');
  assert.match(found['cluster.peers'] ?? '', /two voters alone cannot fail over/);
});

test('an even number of voters is refused', (t) => {
  const found = problems(t, 'cluster: { nodeId: a, peers: [{ id: b, address: "h:1" }, { id: c, address: "h:2" }, { id: d, address: "h:3" }] }\n');
  assert.match(found['cluster.peers'] ?? '', /odd number of voters/);
});

test('own id in peers, a duplicate id, a duplicate address: each named', (t) => {
  const found = problems(
    t,
    `cluster:
  nodeId: a
  peers:
    - { id: a, address: "h:1" }
    - { id: b, address: "h:1" }
    - { id: b, address: "h:2" }
`,
  );
  assert.match(found['cluster.peers[0].id'] ?? '', /this node's own id/);
  assert.match(found['cluster.peers[1].address'] ?? '', /listed twice/);
  assert.match(found['cluster.peers[2].id'] ?? '', /listed twice/);
});

test('a bad address, a bad acks, an unknown key: all named at once', (t) => {
  const found = problems(t, 'cluster: { nodeId: a, acks: most, nope: 1, peers: [{ id: b, address: h }, { id: c, address: "h:70000" }] }\n');
  assert.match(found['cluster.peers[0].address'] ?? '', /host:port/);
  assert.match(found['cluster.peers[1].address'] ?? '', /above 65535/);
  assert.ok('cluster.acks' in found, Object.keys(found).join());
  assert.match(found['cluster.nope'] ?? '', /unknown key/);
});

test('two data nodes and a witness are accepted; witnesses alone beside this node are refused; a fetch wait near the election timeout is refused', (t) => {
  const c = load(t, 'cluster: { nodeId: a, peers: [{ id: b, address: "h:1" }, { id: w, address: "h:2", witness: true }] }\n').cluster!;
  assert.deepEqual(c.peers.map((p) => p.witness), [false, true]);
  const found = problems(
    t,
    'cluster: { nodeId: a, electionTimeoutMs: 400, fetchMaxWaitMs: 300, peers: [{ id: v, address: "h:1", witness: true }, { id: w, address: "h:2", witness: true }] }\n',
  );
  assert.match(found['cluster.peers'] ?? '', /at least one other data node/);
  assert.match(found['cluster.fetchMaxWaitMs'] ?? '', /below half/);
});

test("the witness's own config: defaults, and each problem named (its own id, a witness among its peers, an unknown key)", (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'witness.yaml');
  writeFileSync(file, 'cluster: { nodeId: w, peers: [{ id: a, address: "h:1" }, { id: b, address: "h:2" }] }\n');
  const config = loadWitnessConfig({ file, dataDir: join(dir, 'data') });
  assert.equal(config.dataDir, join(dir, 'data'));
  assert.deepEqual(config.http, { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(config.cluster.listen, { host: '0.0.0.0', port: 9093 });
  assert.equal(config.cluster.electionTimeoutMs, 1500);
  writeFileSync(file, 'mqtt: {}\ncluster: { nodeId: w, peers: [{ id: w, address: "h:1" }, { id: b, address: "h:2", witness: true }] }\n');
  let found: Record<string, string> = {};
  try {
    loadWitnessConfig({ file });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, String(err));
    found = Object.fromEntries(err.problems.map((p) => [p.key, p.message]));
  }
  assert.equal(found.mqtt, 'unknown key');
  assert.match(found['cluster.peers[0].id'] ?? '', /own id/);
  assert.match(found['cluster.peers[1].witness'] ?? '', /data nodes/);
});

test("the witness's cluster.tls: the data nodes' keys (cert, key and ca, each needed), null by default; an unknown key in it is refused, naming it", (t) => {
  const file = join(tempDir(t), 'witness.yaml');
  const witness = (tls: string): Record<string, string> | WitnessConfig => {
    writeFileSync(file, `cluster: { nodeId: w, peers: [{ id: a, address: "h:1" }, { id: b, address: "h:2" }]${tls === '' ? '' : `, tls: ${tls}`} }\n`);
    try {
      return loadWitnessConfig({ file });
    } catch (err) {
      assert.ok(err instanceof ConfigInvalidError, String(err));
      return Object.fromEntries(err.problems.map((p) => [p.key, p.message]));
    }
  };
  assert.equal((witness('') as WitnessConfig).cluster.tls, null);
  assert.deepEqual((witness('{ cert: w.pem, key: w.key, ca: ca.pem }') as WitnessConfig).cluster.tls, { cert: 'w.pem', key: 'w.key', ca: 'ca.pem' });
  assert.ok('cluster.tls.ca' in witness('{ cert: w.pem, key: w.key }'));
  assert.equal((witness('{ cert: w.pem, key: w.key, ca: ca.pem, verify: false }') as Record<string, string>)['cluster.tls.verify'], 'unknown key');
});

test('a cluster needs log.durability fsync', (t) => {
  const found = problems(t, 'log: { durability: interval }\ncluster: { nodeId: a, peers: [{ id: b, address: "h:1" }, { id: c, address: "h:2" }] }\n');
  assert.match(found['log.durability'] ?? '', /must be fsync/);
});

test('cluster.name: needed with upstream (every node forwards as the cluster), optional without, refused when it cannot go into a topic name', (t) => {
  const block = 'cluster: { nodeId: a, peers: [{ id: b, address: "h:1" }, { id: c, address: "h:2" }]';
  const upstream = 'upstream: { enabled: true, brokers: ["k:9092"] }\n';
  assert.match(problems(t, `${block} }\n${upstream}`)['cluster.name'] ?? '', /needed with upstream enabled/);
  assert.equal(load(t, `${block}, name: plant-3 }\n${upstream}`).cluster!.name, 'plant-3');
  assert.equal(load(t, `${block} }\n`).cluster!.name, null);
  assert.match(problems(t, `${block}, name: "plant 3" }\n`)['cluster.name'] ?? '', /letters, digits/);
});

test('cluster.followers is refuse or forward; another value is refused, naming the key', (t) => {
  const block = (followers: string): string => `cluster: { nodeId: a, peers: [{ id: b, address: "h:1" }, { id: c, address: "h:2" }], followers: ${followers} }\n`;
  assert.equal(load(t, block('forward')).cluster?.followers, 'forward');
  assert.throws(() => load(t, block('relay')), /cluster\.followers/);
});
