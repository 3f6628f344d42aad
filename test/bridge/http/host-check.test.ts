// DNS rebinding and cross-site writes against the HTTP API: without a token, a Host that is not a
// name of this server is refused (421), and a state-changing request from another origin is
// refused (403) with or without a token. Requests go over real sockets with the headers a browser
// on a rebinding page would send.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { seed } from '../../helpers/replay-data.js';
import { startTestNode } from '../../helpers/mqtt-node.js';

interface Reply {
  status: number;
  code?: string;
}

/** One request with exactly these headers (fetch would not let Host be set). */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode!, ...(code === undefined ? {} : { code }) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const COMMIT = JSON.stringify({ topic: 'telemetry', positions: [{ partition: 0, nextOffset: 7 }] });
const JSON_TYPE = { 'content-type': 'application/json' };

test('without a token: a foreign Host is refused on every path; loopback names and http.allowedHosts are served', async (t) => {
  const { node } = await startTestNode(t, { http: { allowedHosts: ['gateway-7.local'] } });
  const port = node.http.port;
  for (const path of ['/api/topics', '/api/overview', '/metrics', '/api/topics/mqtt/records', '/', '/healthz']) {
    const reply = await send(port, 'GET', path, { host: `evil.example.com:${port}` });
    assert.deepEqual(reply, { status: 421, code: 'TRIB_HTTP_HOST' }, path);
  }
  // A rebinding name that merely contains a loopback name is no loopback name.
  for (const host of ['localhost.evil.example.com', '127.0.0.1.nip.io', 'gateway-7.local.evil.example.com', 'evil.example.com']) {
    assert.equal((await send(port, 'GET', '/api/topics', { host })).status, 421, host);
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, '127.0.0.1', `gateway-7.local:${port}`, 'GATEWAY-7.local']) {
    assert.equal((await send(port, 'GET', '/api/topics', { host })).status, 200, host);
  }
});

test('a state-changing request from another origin is refused and moves nothing; the same origin and clients without Origin are served', async (t) => {
  const { node } = await startTestNode(t);
  await seed(node.log, 'telemetry', 1, 10);
  const port = node.http.port;
  const host = `127.0.0.1:${port}`;
  const positions = async (): Promise<number> => {
    const readers = (await (await fetch(`http://${host}/api/readers`)).json()) as { readers: Array<{ nextOffset: number }> };
    return readers.readers[0]?.nextOffset ?? -1;
  };

  for (const origin of ['http://evil.example.com', `http://evil.example.com:${port}`, 'null', `http://localhost:${port}`]) {
    const reply = await send(port, 'POST', '/api/readers/nightly/positions', { host, origin, ...JSON_TYPE }, COMMIT);
    assert.deepEqual(reply, { status: 403, code: 'TRIB_HTTP_ORIGIN' }, origin);
  }
  assert.deepEqual(await send(port, 'DELETE', '/api/readers/nightly', { host, origin: 'http://evil.example.com' }), { status: 403, code: 'TRIB_HTTP_ORIGIN' });
  assert.equal(await positions(), -1, 'no position was committed');

  // The dashboard's own page (same origin) and the CLI (no Origin) may commit.
  assert.equal((await send(port, 'POST', '/api/readers/nightly/positions', { host, origin: `http://${host}`, ...JSON_TYPE }, COMMIT)).status, 200);
  assert.equal(await positions(), 7);
  assert.equal((await send(port, 'POST', '/api/readers/nightly/positions', { host, ...JSON_TYPE }, COMMIT)).status, 200);
  // Reads from another origin are not state changes: the browser's same-origin rule guards them.
  assert.equal((await send(port, 'GET', '/api/topics', { host, origin: 'http://evil.example.com' })).status, 200);
});

test('with a token, any Host is served (probes, proxies) and a foreign Origin still cannot change state', async (t) => {
  const token = 'host-check-token-0123456789';
  const { node } = await startTestNode(t, { http: { host: '0.0.0.0', token } });
  await seed(node.log, 'telemetry', 1, 10);
  const port = node.http.port;
  const auth = { authorization: `Bearer ${token}` };
  assert.equal((await send(port, 'GET', '/healthz', { host: '10.1.2.3:8080' })).status, 200);
  assert.equal((await send(port, 'GET', '/api/topics', { host: 'gateway.factory.example', ...auth })).status, 200);
  assert.equal((await send(port, 'GET', '/api/topics', { host: 'evil.example.com' })).status, 401, 'the token still guards the data');
  const foreign = await send(port, 'POST', '/api/readers/nightly/positions', { host: `127.0.0.1:${port}`, origin: 'http://evil.example.com', ...auth, ...JSON_TYPE }, COMMIT);
  assert.deepEqual(foreign, { status: 403, code: 'TRIB_HTTP_ORIGIN' });
});

test('a request target that is no path (GET //, OPTIONS *) gets 400 and the node stays up', async (t) => {
  const { node } = await startTestNode(t);
  const port = node.http.port;
  for (const [method, path] of [['GET', '//'], ['GET', '//evil.example.com/api/topics'], ['OPTIONS', '*']] as const) {
    assert.deepEqual(await send(port, method, path, { host: '127.0.0.1' }), { status: 400, code: 'TRIB_HTTP_BAD_REQUEST' }, `${method} ${path}`);
  }
  assert.equal((await send(port, 'GET', '/healthz', { host: '127.0.0.1' })).status, 200);
});
