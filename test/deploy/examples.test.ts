// deploy/: every example config goes through the real loader (and the small ones start a real
// node); the systemd unit passes systemd's own checks; the Dockerfile builds what it runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { envNames, loadConfig, loadWitnessConfig } from '../../bridge/config/load.js';
import { createLogger } from '../../bridge/logger.js';
import { startNode } from '../../bridge/main.js';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const TOKEN = 'example-config-test-token-0123';
/** What the examples leave to the environment (secrets), as their comments say. */
const SECRETS = Object.fromEntries(
  Object.entries({ TRIBUTARY_HTTP_TOKEN: TOKEN, TRIBUTARY_UPSTREAM_SASL_PASSWORD: 'example-sasl-password' }).filter(([name]) => envNames().has(name)),
);

const exampleFiles = (): string[] => [
  join(DEPLOY, 'tributary.example.yaml'),
  ...readdirSync(join(DEPLOY, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(DEPLOY, 'examples', f)),
  join(DEPLOY, 'compose', 'tributary.yaml'),
];

test('the examples are the ones the docs name', () => {
  for (const name of ['minimal.yaml', 'raspberry-pi.yaml', 'production.yaml']) assert.ok(existsSync(join(DEPLOY, 'examples', name)), name);
});

test('every example config loads through the real config loader', () => {
  for (const file of exampleFiles()) {
    assert.doesNotThrow(() => loadConfig({ file, env: SECRETS }), file);
  }
});

test('the production example is what it claims: TLS with client certificates, users, ACLs, and no open HTTP without its token', () => {
  const file = join(DEPLOY, 'examples', 'production.yaml');
  const config = loadConfig({ file, env: SECRETS });
  assert.equal(config.mqtt.tls?.clientCertificates, 'require');
  assert.ok(config.mqtt.auth.users.length >= 2);
  assert.equal(config.mqtt.auth.allowAnonymous, false);
  assert.ok((config.mqtt.auth.acl ?? []).length >= 2);
  assert.equal(config.http.token, TOKEN);
  assert.throws(() => loadConfig({ file, env: {} }), /http\.token: required/);
  assert.equal(config.upstream?.enabled, true);
  assert.equal(config.upstream?.tls.enabled, true);
  assert.equal(config.upstream?.sasl.mechanism, 'SCRAM-SHA-512');
  assert.equal(config.upstream?.sasl.password, 'example-sasl-password', 'the SASL password comes from the environment');
  assert.doesNotMatch(readFileSync(file, 'utf8'), /^\s*password:\s*\S+.*$(?<!scrypt.*)/m, 'no SASL password in the file');
});

test('the Raspberry Pi example caps the log and keeps fsync durability', () => {
  const config = loadConfig({ file: join(DEPLOY, 'examples', 'raspberry-pi.yaml'), env: {} });
  assert.equal(config.log.durability, 'fsync');
  assert.ok(config.log.retention.maxBytes !== null && config.log.retention.maxBytes <= 4 * 1024 ** 3);
  assert.ok(config.log.retention.maxAge !== null);
});

test('the minimal and Raspberry Pi examples start a real node', async (t) => {
  for (const name of ['minimal.yaml', 'raspberry-pi.yaml']) {
    const config = loadConfig({ file: join(DEPLOY, 'examples', name), env: {}, flags: { dataDir: tempDir(t), mqttPort: 0, wsPort: 0, httpPort: 0 } });
    const node = await startNode({ ...config, mqtt: { ...config.mqtt, host: '127.0.0.1' } }, createLogger('silent'));
    try {
      const res = await fetch(`http://127.0.0.1:${node.http.port}/readyz`);
      assert.equal(res.status, 200, name);
      assert.deepEqual(node.log.topics().map((topic) => topic.name), config.topics.map((topic) => topic.name));
    } finally {
      await node.close();
    }
  }
});

test('the systemd unit passes systemd-analyze verify and its hardening rates OK', (t) => {
  const unit = readFileSync(join(DEPLOY, 'tributary.service'), 'utf8');
  for (const line of ['Restart=always', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'StateDirectory=tributary', 'DynamicUser=yes', 'User=tributary']) {
    assert.match(unit, new RegExp(`^${line}$`, 'm'), line);
  }
  assert.match(unit, /^MemoryMax=\d+[MG]$/m);
  // verify also checks that ExecStart's program exists: point it at this machine's node.
  const dir = tempDir(t);
  const copy = join(dir, 'tributary.service');
  writeFileSync(copy, unit.replace('/usr/bin/node', process.execPath));
  const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  assert.equal(verify.error, undefined, 'systemd-analyze is installed (Debian package systemd)');
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', copy], { encoding: 'utf8' });
  const level = /Overall exposure level for tributary\.service: ([\d.]+) (\w+)/.exec(security.stdout);
  assert.ok(level !== null, security.stdout + security.stderr);
  assert.ok(Number(level[1]) <= 2, `exposure ${level[1]} ${level[2]}`);
});

test('the Dockerfile: a supported Node LTS (24) slim in both stages, better-sqlite3 built, non-root, runs what the build makes', () => {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  // Node 20 reached its end of life in April 2026; 22 is supported until April 2027, 24 until April 2028.
  assert.deepEqual(froms, ['node:24-slim', 'node:24-slim']);
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  assert.match(text.slice(0, text.lastIndexOf('\nFROM ')), /python3 make g\+\+/, 'a toolchain for better-sqlite3');
  const user = /^USER (\S+)/m.exec(runtime);
  assert.ok(user !== null && user[1] !== 'root' && user[1] !== '0', 'runs as non-root');
  for (const [, source] of text.matchAll(/^COPY (?!--from)(\S+) /gm)) assert.ok(existsSync(join(ROOT, source!)), `COPY ${source}`);
  for (const [, source] of runtime.matchAll(/^COPY --from=build \/app\/(\S+) /gm)) assert.ok(existsSync(join(ROOT, source!)), `built ${source}`);
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(runtime);
  assert.ok(entry !== null, 'an ENTRYPOINT in exec form');
  const argv = JSON.parse(entry[1]!) as string[];
  assert.equal(argv[0], 'node');
  const script = argv.find((arg) => !arg.startsWith('-') && arg !== 'node');
  assert.ok(script !== undefined && existsSync(join(ROOT, script)), 'the entry point is built');
  assert.match(runtime, /HEALTHCHECK .*\/readyz/);
});

test('npm start, the systemd unit and the Dockerfile launch node with the same memory settings', () => {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const semiSpace = /--max-semi-space-size=\d+/.exec(start)?.[0];
  assert.ok(semiSpace !== undefined, `npm start sets the young generation: ${start}`);
  assert.match(start, /^MALLOC_ARENA_MAX=2 node /);
  const unit = readFileSync(join(DEPLOY, 'tributary.service'), 'utf8');
  assert.match(unit, /^Environment=MALLOC_ARENA_MAX=2$/m);
  assert.ok(/^ExecStart=.*$/m.exec(unit)![0].includes(` ${semiSpace} `), 'the unit runs node with the same flag');
  const docker = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  assert.match(docker, /^ENV .*\bMALLOC_ARENA_MAX=2\b/m);
  assert.ok((JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(docker)![1]!) as string[]).includes(semiSpace), 'the image runs node with the same flag');
});

test("the witness's systemd unit passes systemd-analyze verify, rates OK, and runs `tributary witness` on its example config, which loads", (t) => {
  const config = loadWitnessConfig({ file: join(DEPLOY, 'tributary-witness.example.yaml') });
  assert.equal(config.cluster.peers.length, 2);
  const unit = readFileSync(join(DEPLOY, 'tributary-witness.service'), 'utf8');
  assert.match(unit, /^ExecStart=\S+ .*cli\.js witness --config /m);
  for (const line of ['Restart=always', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'StateDirectory=tributary-witness', 'DynamicUser=yes']) {
    assert.match(unit, new RegExp(`^${line}$`, 'm'), line);
  }
  const copy = join(tempDir(t), 'tributary-witness.service');
  writeFileSync(copy, unit.replace('/usr/bin/node', process.execPath));
  const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', copy], { encoding: 'utf8' });
  const level = /Overall exposure level for tributary-witness\.service: ([\d.]+) (\w+)/.exec(security.stdout);
  assert.ok(level !== null, security.stdout + security.stderr);
  assert.ok(Number(level[1]) <= 2, `exposure ${level[1]} ${level[2]}`);
});
