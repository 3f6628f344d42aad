// Bounded fuzzing of the HTTP routes against a running node (test/helpers/fuzz-http.ts): random
// methods, paths, query strings, headers and bodies, some as malformed raw HTTP. A failure prints
// its seed; FUZZ_SEED=<seed> replays the run, FUZZ_CASES sets its length.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { test } from 'node:test';
import { startCliNode } from '../../helpers/cli.js';
import { fuzzCases, fuzzSeed } from '../../helpers/fuzz.js';
import { fuzzHttp } from '../../helpers/fuzz-http.js';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { tempDir } from '../../helpers/temp-dir.js';

const TOKEN = 'http-fuzz-token-0123456789abcdef';

test('HTTP fuzz: every answer is whole HTTP, non-2xx carries a TRIB_* JSON error, bad input never gets a 500', async (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const { node, url } = await startTestNode(t, { topics: [{ name: 'mqtt', partitions: 2 }], http: { token: TOKEN } });
  const client = await connect(t, url, { clientId: 'http-fuzz-data' });
  for (let i = 0; i < 20; i++) await client.publishAsync(`plant/line-${i % 4}/temp`, `{"v":${i}}`, { qos: 1 });
  const port = node.http.port;
  const commit = await fetch(`http://127.0.0.1:${port}/api/readers/reader-1/positions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'mqtt', positions: [{ partition: 0, nextOffset: 1 }] }),
  });
  assert.equal(commit.status, 200);

  const tally = await fuzzHttp(seed, 0, fuzzCases(1500), { port, token: TOKEN, topic: 'mqtt' });
  t.diagnostic(JSON.stringify(tally));
  // With the full case count (a short FUZZ_CASES replay may not get there):
  if (process.env.FUZZ_CASES === undefined) assert.ok(tally.byStatus['200']! > 0 && tally.byStatus['400']! > 0 && tally.byStatus['404']! > 0, 'the generator reaches routes and their refusals');

  // Still up and serving.
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  await client.publishAsync('plant/after/fuzz', 'still here', { qos: 1 });
});

// Found by the fuzzer.
test('a request target such as // does not end the node (it threw ERR_INVALID_URL outside the handler\'s try)', async (t) => {
  const node = await startCliNode(t, tempDir(t));
  const { port } = new URL(node.url);
  const answer = await new Promise<string>((resolve) => {
    const socket = netConnect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
    socket.end('GET // HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  assert.match(answer, /^HTTP\/1\.1 4\d\d /, `a 4xx answer, got ${JSON.stringify(answer)}`);
  assert.equal((await fetch(`${node.url}/healthz`)).status, 200, 'still serving');
});

test('a positions commit whose body is null, or holds a null position, is a 400, not a 500', async (t) => {
  const { node } = await startTestNode(t);
  for (const body of ['null', '{"topic":"mqtt","positions":[null]}']) {
    const res = await fetch(`http://127.0.0.1:${node.http.port}/api/readers/r1/positions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 400, `${body}: ${await res.text()}`);
  }
});
