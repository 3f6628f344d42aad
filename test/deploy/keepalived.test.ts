// deploy/keepalived/: the example config passes keepalived's own check (-t) with the check script
// in place, and the check script says "leader" (exit 0) or not (exit 1) against real nodes: a
// one-node Tributary, with and without its HTTP token, and a node that is down. A follower's 503
// and a leader's 200 come from stand-ins until replication serves GET /api/cluster/role.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/cli.js';
import { startTestNode } from '../helpers/mqtt-node.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEEPALIVED = fileURLToPath(new URL('../../../deploy/keepalived/', import.meta.url));
const CHECK = join(KEEPALIVED, 'tributary-leader-check');
const TOKEN = 'keepalived-check-token-0123456789';

/** keepalived -t on a config: what it complained about (2.2.7 ends its check with SIGTERM, not exit 0). */
function configCheck(file: string): string {
  const r = spawnSync('keepalived', ['-t', '-f', file], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'keepalived is installed (Debian package keepalived)');
  assert.ok(r.status === 0 || r.signal === 'SIGTERM', `keepalived -t: status ${r.status}, signal ${r.signal}`);
  return r.stderr + r.stdout;
}

test('the example keepalived.conf passes keepalived -t with the check script where it says', (t) => {
  // The script where the config expects it (a directory only root can write: script security),
  // run as an existing unprivileged user, on an interface this machine has.
  const dir = join(tempDir(t), 'lib');
  mkdirSync(dir, { mode: 0o755 });
  const script = join(dir, 'tributary-leader-check');
  copyFileSync(CHECK, script);
  chmodSync(script, 0o755);
  const conf = readFileSync(join(KEEPALIVED, 'keepalived.conf.example'), 'utf8')
    .replaceAll('/usr/local/lib/tributary/tributary-leader-check', script)
    .replace('script_user keepalived_script', 'script_user nobody')
    .replaceAll('eth0', lanInterface());
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, conf);
  assert.equal(configCheck(file), '', 'no complaint');
  // The check can fail: a misspelt keyword is reported.
  writeFileSync(file, conf.replace('track_script {', 'track_scripts {'));
  assert.match(configCheck(file), /Unknown keyword 'track_scripts'/);
});

/** An interface VRRP may use here (not loopback): eth0 where there is one. */
function lanInterface(): string {
  const names = readdirSync('/sys/class/net').filter((n) => n !== 'lo');
  const name = names.includes('eth0') ? 'eth0' : names.sort()[0];
  assert.ok(name !== undefined, 'a network interface besides lo');
  return name;
}

function leaderCheck(args: string[]): Promise<number | null> {
  const child = spawn(CHECK, args, { stdio: 'ignore' });
  return new Promise((resolve) => child.on('close', (code) => resolve(code)));
}

/** An HTTP server answering GET /api/cluster/role with `status` and a role, as a cluster node will. */
async function roleStandIn(t: TestContext, status: number, role: string): Promise<string> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/api/cluster/role') res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ role }));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('the check script: a one-node Tributary leads itself; a token is sent from a file; a node that is down does not lead', async (t) => {
  const open = await startTestNode(t);
  assert.equal(await leaderCheck(['--url', `http://127.0.0.1:${open.node.http.port}`]), 0);

  const guarded = await startTestNode(t, { http: { token: TOKEN } });
  const url = `http://127.0.0.1:${guarded.node.http.port}`;
  assert.equal(await leaderCheck(['--url', url]), 1, 'without the token: 401, not leader');
  const tokenFile = join(tempDir(t), 'http-token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  assert.equal(await leaderCheck(['--url', url, '--token-file', tokenFile]), 0);
  assert.equal(await leaderCheck(['--url', url, '--token-file', join(tempDir(t), 'missing')]), 1);

  assert.equal(await leaderCheck(['--url', `http://127.0.0.1:${await freePort()}`]), 1, 'down');
  assert.equal(await leaderCheck(['--bogus']), 2);
});

test("the check script follows GET /api/cluster/role: 200 leads, a follower's 503 does not", async (t) => {
  assert.equal(await leaderCheck(['--url', await roleStandIn(t, 200, 'leader')]), 0);
  assert.equal(await leaderCheck(['--url', await roleStandIn(t, 503, 'follower')]), 1);
  assert.equal(await leaderCheck(['--url', await roleStandIn(t, 503, 'candidate')]), 1);
});
