// The CLI's client of a running node: each client sends its own token (none is global), --token
// wins over TRIBUTARY_HTTP_TOKEN, and the environment's token is used when --token is not given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeClient, NodeClient, RemoteError } from '../../../bridge/cli/node-client.js';
import { runCliAsync } from '../../helpers/cli.js';
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
