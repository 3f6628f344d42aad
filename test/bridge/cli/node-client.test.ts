// The CLI's client of a running node: each client sends its own token (none is global), --token
// wins over TRIBUTARY_HTTP_TOKEN, and the environment's token is used when --token is not given.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { nodeClient, NodeClient, RemoteError } from '../../../bridge/cli/node-client.js';
import { freePort, runCliAsync } from '../../helpers/cli.js';
import { startTestNode } from '../../helpers/mqtt-node.js';

const TOKEN = 'node-client-test-token-0123456789';

async function tokenNode(t: Parameters<typeof startTestNode>[0]): Promise<string> {
  const n = await startTestNode(t, { http: { token: TOKEN } });
  return `http://127.0.0.1:${n.node.http.port}`;
}

test('two clients in one process each send their own token', async (t) => {
  const base = await tokenNode(t);
  const right = new NodeClient(base, TOKEN);
  const wrong = new NodeClient(base, 'not-the-token-of-this-node');
  const none = new NodeClient(base, null);
  // Made in this order, a token held by the module would be the last one for all three.
  const [topics, refused, anonymous] = await Promise.allSettled([right.json('/api/topics'), wrong.json('/api/topics'), none.json('/api/topics')]);
  if (topics.status === 'rejected') assert.fail(`the client with the node's token was refused: ${String(topics.reason)}`);
  assert.ok(Array.isArray((topics.value as { topics: unknown[] }).topics));
  for (const r of [refused, anonymous]) {
    if (r.status === 'fulfilled') assert.fail('a client without the right token was served');
    assert.ok(r.reason instanceof RemoteError);
    assert.equal(r.reason.code, 'TRIB_HTTP_UNAUTHORIZED');
  }
});

test('--token wins over the environment; the environment is used without --token', async (t) => {
  const base = await tokenNode(t);
  assert.ok(await nodeClient({ url: base, token: TOKEN }, { httpToken: 'stale-token-from-the-environment' }).json('/api/topics'));
  assert.ok(await nodeClient({ url: base }, { httpToken: TOKEN }).json('/api/topics'));
  await assert.rejects(nodeClient({ url: base, token: 'wrong-flag-token' }, { httpToken: TOKEN }).json('/api/topics'), { code: 'TRIB_HTTP_UNAUTHORIZED' });

  // The same through the command: bridge/cli.ts reads TRIBUTARY_HTTP_TOKEN and hands it on.
  const flagWins = await runCliAsync(['topics', '--url', base, '--token', TOKEN, '--json'], { TRIBUTARY_HTTP_TOKEN: 'stale-token-from-the-environment' });
  assert.equal(flagWins.status, 0, flagWins.stderr);
  const fromEnv = await runCliAsync(['topics', '--url', base, '--json'], { TRIBUTARY_HTTP_TOKEN: TOKEN });
  assert.equal(fromEnv.status, 0, fromEnv.stderr);
  const wrongFlag = await runCliAsync(['topics', '--url', base, '--token', 'wrong-flag-token'], { TRIBUTARY_HTTP_TOKEN: TOKEN });
  assert.equal(wrongFlag.status, 1);
  assert.match(wrongFlag.stderr, /\[TRIB_HTTP_UNAUTHORIZED\]\n$/);
});

test('without --url the client talks to the default address', () => {
  assert.equal(nodeClient({}, { httpToken: null }).base, 'http://127.0.0.1:8080');
});

/** A stand-in for a cluster's follower until replication lands: every request answered 503 with its role (docs/replication.md, "Clients"). */
async function followerStandIn(t: Parameters<typeof startTestNode>[0]): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ role: 'follower', leader: null, code: 'TRIB_CLUSTER_NOT_LEADER', message: 'this node is a follower' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

test('--url list: a node that cannot be reached is passed over, for commands and record streams alike', async (t) => {
  const n = await startTestNode(t);
  const base = `http://127.0.0.1:${n.node.http.port}`;
  const down = `http://127.0.0.1:${await freePort()}`;
  const client = nodeClient({ url: `${down},${base}` }, { httpToken: null });
  assert.ok(await client.json('/api/topics'));
  assert.equal(client.base, base, 'it stays with the node that answered');
  const topics = await runCliAsync(['topics', '--url', `${down}, ${base}`, '--json']);
  assert.equal(topics.status, 0, topics.stderr);
  const replay = await runCliAsync(['replay', '--url', `${down},${base}`, '--topic', 'mqtt']);
  assert.equal(replay.status, 0, replay.stderr);

  const none = await runCliAsync(['topics', '--url', `${down},http://127.0.0.1:1`]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /^tributary: cannot reach any of the Tributary nodes at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\), http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\); is it running\?/);
});

test('a write refused by a follower (503, role follower) goes to the next node; a read is not sent on', async (t) => {
  const n = await startTestNode(t);
  const base = `http://127.0.0.1:${n.node.http.port}`;
  const follower = await followerStandIn(t);
  const client = nodeClient({ url: `${follower.url},${base}` }, { httpToken: null });
  await client.json('/api/readers/dashboard/positions', 'POST', { topic: 'mqtt', positions: [{ partition: 0, nextOffset: 0 }] });
  assert.deepEqual(follower.requests, ['POST /api/readers/dashboard/positions']);
  const { readers } = (await client.json('/api/readers')) as { readers: Array<{ reader: string }> };
  assert.ok(readers.some((r) => r.reader === 'dashboard'), 'the leader has the commit');

  // A read goes to the node asked first; a 503 there is its answer, not a reason to move on.
  const reads = nodeClient({ url: `${follower.url},${base}` }, { httpToken: null });
  await assert.rejects(reads.json('/api/topics'), { code: 'TRIB_CLUSTER_NOT_LEADER', status: 503 });
  // With every node a follower, the write's last refusal is the answer.
  await assert.rejects(nodeClient({ url: follower.url }, { httpToken: null }).json('/api/readers/x', 'DELETE'), { status: 503 });
});
