// The namespace harness's node processes, as root: nodes with a cluster block are initialised
// (`tributary cluster init`) before their first start, as an install does, so none is taken for a
// member whose disk was wiped; a node restarted wiped is not initialised again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Network, skipUnlessNetns } from './network.js';
import { startNodes, type NodeProcess } from './node-process.js';
import { waitForLeader } from './cluster-status.js';
import { clusterSettings } from './scenario.js';

const skip = skipUnlessNetns();

/** The node id in its cluster.db's format mark; null: not formatted by init. */
function formattedFor(node: NodeProcess): string | null {
  const db = new Database(join(node.dataDir, 'cluster.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT node_id AS nodeId FROM format WHERE id = 1').get() as { nodeId: string } | undefined)?.nodeId ?? null;
  } finally {
    db.close();
  }
}

test('startNodes initialises every node with a cluster block before its first start; a wiped restart is not initialised again', { skip }, async (t) => {
  const net = Network.create(t, 3);
  const nodes = await startNodes(t, net, clusterSettings(net));
  await waitForLeader(nodes);
  for (const node of nodes) {
    assert.equal(formattedFor(node), `n${node.at.index}`, node.output);
    assert.doesNotMatch(node.output, /taken for a member whose disk was wiped/);
  }
  const wiped = nodes[2]!;
  await wiped.restart({ wipe: true });
  assert.equal(formattedFor(wiped), null);
  assert.match(wiped.output, /taken for a member whose disk was wiped/);
});
