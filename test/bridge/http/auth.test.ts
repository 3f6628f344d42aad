// The HTTP admin's bearer token: required off loopback, compared exactly, probes left open.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../../bridge/config/load.js';
import { startTestNode } from '../../helpers/mqtt-node.js';

const CLI = fileURLToPath(new URL('../../../bridge/cli.js', import.meta.url));
const TOKEN = 'a-long-enough-secret-0123456789';

test('a non-loopback http.host without http.token is a config error naming the key', () => {
  assert.throws(() => loadConfig({ env: { TRIBUTARY_HTTP_HOST: '0.0.0.0' } }), /http\.token: required when http\.host \('0\.0\.0\.0'\) is not a loopback address/);
  assert.throws(() => loadConfig({ env: { TRIBUTARY_HTTP_HOST: '0.0.0.0', TRIBUTARY_HTTP_TOKEN: 'short' } }), /http\.token: at least 16 characters/);
  assert.equal(loadConfig({ env: { TRIBUTARY_HTTP_HOST: '0.0.0.0', TRIBUTARY_HTTP_TOKEN: TOKEN } }).http.token, TOKEN);
});

test('tributary start refuses to open the HTTP API to the network without a token', () => {
  const r = spawnSync(process.execPath, [CLI, 'start', '--mqtt-port', '0', '--ws-port', '0'], {
    encoding: 'utf8',
    env: { ...process.env, TRIBUTARY_HTTP_HOST: '0.0.0.0', TRIBUTARY_DATA_DIR: '/nonexistent/never-created' },
    timeout: 30_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /http\.token: required when http\.host/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('with a token, data paths need it and the probes and page stay open', async (t) => {
  const { node } = await startTestNode(t, { http: { host: '0.0.0.0', token: TOKEN } });
  const base = `http://127.0.0.1:${node.http.port}`;
  for (const path of ['/metrics', '/api/overview', '/api/topics']) {
    const missing = await fetch(base + path);
    assert.equal(missing.status, 401, path);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="tributary"');
    assert.equal((await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401, `${path} wrong token`);
    assert.equal((await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } })).status, 401, `${path} prefix of the token`);
    assert.equal((await fetch(base + path, { headers: { authorization: TOKEN } })).status, 401, `${path} no scheme`);
    const ok = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200, path);
  }
  for (const path of ['/healthz', '/readyz', '/']) assert.equal((await fetch(base + path)).status, 200, path);
});
