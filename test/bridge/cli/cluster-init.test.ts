// `tributary cluster init` and `tributary witness init` as an operator runs them at install: an
// empty data directory is formatted once (cluster.db with the format mark); a directory that holds
// cluster.db or a log is refused with TRIB_CLUSTER_INIT_REFUSED naming the cause, and left as it was.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ElectionState, type FormatMark } from '../../../bridge/cluster/election-state.js';
import { Log } from '../../../broker/log/log.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp-dir.js';

function nodeConfig(t: TestContext, dataDir: string, cluster = true): string {
  const file = join(tempDir(t), 'node.yaml');
  const block = 'cluster:\n  nodeId: gw-a\n  name: site-a\n  peers: [{ id: gw-b, address: "127.0.0.1:9193" }, { id: gw-c, address: "127.0.0.1:9293" }]\n';
  writeFileSync(file, `dataDir: ${JSON.stringify(dataDir)}\n${cluster ? block : ''}`);
  return file;
}

function markOf(dataDir: string): FormatMark | null {
  const state = ElectionState.open(dataDir);
  try {
    return state.format;
  } finally {
    state.close();
  }
}

test('cluster init formats an empty (or missing) data directory once: cluster.db with the cluster name, the node id and a directory id; a second init is refused', (t) => {
  const dataDir = join(tempDir(t), 'data');
  const config = nodeConfig(t, dataDir);
  const first = runCli(['cluster', 'init', '--config', config]);
  assert.equal(first.status, 0, first.stderr);
  const mark = markOf(dataDir);
  assert.equal(mark?.cluster, 'site-a');
  assert.equal(mark?.nodeId, 'gw-a');
  assert.match(first.stdout, new RegExp(`initialised .* for node gw-a of cluster site-a \\(directory id ${mark!.directoryId}\\)`));

  const again = runCli(['cluster', 'init', '--config', config]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /holds cluster\.db already .*\[TRIB_CLUSTER_INIT_REFUSED\]/);
  assert.deepEqual(markOf(dataDir), mark, 'the first mark stays');
});

test('cluster init refuses a data directory that holds a log (a node with data, or one started before), naming it, and writes nothing', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, topics: [{ name: 'plant', partitions: 1 }] });
  await log.append('plant', 0, [{ timestamp: 1, key: null, value: Buffer.from('kept') }]);
  await log.close();
  const before = readdirSync(dataDir).sort();
  const r = runCli(['cluster', 'init', '--config', nodeConfig(t, dataDir)]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /holds a log \(log\.db\): a node with data joins a cluster by starting with the cluster block .*\[TRIB_CLUSTER_INIT_REFUSED\]/);
  assert.deepEqual(readdirSync(dataDir).sort(), before, 'nothing written');
  assert.equal(existsSync(join(dataDir, 'cluster.db')), false);
});

test('cluster init without a cluster block is a usage error; witness init formats a witness\'s directory and refuses one with positions.db', (t) => {
  const dataDir = join(tempDir(t), 'data');
  const single = runCli(['cluster', 'init', '--config', nodeConfig(t, dataDir, false)]);
  assert.equal(single.status, 2);
  assert.match(single.stderr, /has no cluster block; a single node needs no init \[TRIB_USAGE\]/);

  const witnessDir = join(tempDir(t), 'witness');
  const config = join(tempDir(t), 'witness.yaml');
  writeFileSync(config, `dataDir: ${JSON.stringify(witnessDir)}\ncluster:\n  nodeId: w\n  peers: [{ id: gw-a, address: "127.0.0.1:9193" }, { id: gw-b, address: "127.0.0.1:9293" }]\n`);
  const ok = runCli(['witness', 'init', '--config', config]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(markOf(witnessDir)?.nodeId, 'w');

  const other = join(tempDir(t), 'witness-with-positions');
  const otherConfig = join(tempDir(t), 'w2.yaml');
  writeFileSync(otherConfig, `dataDir: ${JSON.stringify(other)}\ncluster:\n  nodeId: w\n  peers: [{ id: gw-a, address: "127.0.0.1:9193" }, { id: gw-b, address: "127.0.0.1:9293" }]\n`);
  mkdirSync(other);
  writeFileSync(join(other, 'positions.db'), '');
  const refused = runCli(['witness', 'init', '--config', otherConfig]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /holds a log \(positions\.db\)/);
});
