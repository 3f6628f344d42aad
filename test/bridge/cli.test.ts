// The `tributary` command as a user runs it: a real process, real ports, real signals.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../bridge/config/load.js';
import { verifyPassword } from '../../bridge/mqtt/passwords.js';
import { formatScramCredential, makeScramCredential, parseScramCredential, type ScramCredential } from '../../bridge/shared/scram-credentials.js';
import { startCliNode } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('a bad config exits 1 with every problem named, no stack trace', (t) => {
  const file = join(tempDir(t), 'bad.yaml');
  writeFileSync(file, 'mqtt: { prot: 1 }\nlog: { durability: never }\n');
  const r = run(['start', '--config', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /mqtt\.prot: unknown key/);
  assert.match(r.stderr, /log\.durability: Invalid option/);
  assert.match(r.stderr, /\[TRIB_CONFIG_INVALID\]/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('usage errors exit 2 and show help', () => {
  const r = run(['start', '--http-port', 'abc']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--http-port must be a port number/);
  assert.equal(run(['frobnicate']).status, 2);
  assert.equal(run(['--help']).status, 0);
});

test('start serves health and topics, stops cleanly on SIGTERM, and topics reads the stopped data dir', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--http-port', String(port), '--mqtt-port', '0', '--ws-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(() => child.kill('SIGKILL'));
  await pollUntil(() => output.includes('Tributary started') || child.exitCode !== null, PATIENCE_MS, 50);
  assert.match(output, /Tributary started/);

  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(ready.status, 200);
  const topics = (await (await fetch(`http://127.0.0.1:${port}/api/topics`)).json()) as { topics: { name: string }[] };
  assert.deepEqual(topics.topics.map((x) => x.name), ['mqtt']);
  const viaCli = run(['topics', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(viaCli.status, 0);
  assert.match(viaCli.stdout, /^TOPIC\s+PARTITION\s+START\s+END\s+RECORDS\s+BYTES\nmqtt\s+0\s+0\s+0\s+0\s+0/);

  // The data directory is locked while the node runs.
  const locked = run(['topics', '--data-dir', dataDir]);
  assert.equal(locked.status, 1);
  assert.match(locked.stderr, /TRIB_DATA_DIR_LOCKED/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(output, /"msg":"stopped"/);
  const offline = run(['topics', '--data-dir', dataDir, '--json']);
  assert.equal(offline.status, 0);
  assert.equal((JSON.parse(offline.stdout) as { topics: unknown[] }).topics.length, 1);
});

test('a busy port is a clear error naming it', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const r = run(['start', '--data-dir', join(tempDir(t), 'd'), '--http-port', String(port), '--mqtt-port', '0', '--ws-port', '0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`cannot listen for HTTP .* on 127\\.0\\.0\\.1:${port}: the port is already in use \\[TRIB_LISTEN_FAILED\\]`));
  const mqtt = run(['start', '--data-dir', join(tempDir(t), 'd2'), '--http-port', '0', '--mqtt-port', String(port), '--ws-port', '0']);
  assert.equal(mqtt.status, 1);
  assert.match(mqtt.stderr, new RegExp(`cannot listen for MQTT \\(mqtt.port, --mqtt-port\\) on 0\\.0\\.0\\.0:${port}: the port is already in use \\[TRIB_LISTEN_FAILED\\]`));
});

test('a data directory that cannot be made is named with what to do; missing parents are created', async (t) => {
  const root = tempDir(t);
  const file = join(root, 'not-a-dir');
  writeFileSync(file, 'x');
  const start = (dataDir: string): ReturnType<typeof run> => run(['start', '--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0', '--ws-port', '0']);

  const isFile = start(file);
  assert.equal(isFile.status, 1);
  assert.match(isFile.stderr, new RegExp(`cannot use ${file} as the data directory: it is a file, not a directory\\. Move it away, or choose another data directory .*\\[TRIB_DATA_DIR\\]`));
  assert.doesNotMatch(isFile.stderr, /EEXIST|\n\s+at /);

  const under = start(join(file, 'sub', 'data'));
  assert.equal(under.status, 1);
  assert.match(under.stderr, new RegExp(`cannot use ${join(file, 'sub', 'data')} as the data directory: ${file} on its path is a file, not a directory\\..*\\[TRIB_DATA_DIR\\]`));
  assert.doesNotMatch(under.stderr, /ENOTDIR|\n\s+at /);

  const link = join(root, 'dangling');
  symlinkSync(join(root, 'nowhere'), link);
  const broken = start(join(link, 'data'));
  assert.equal(broken.status, 1);
  assert.match(broken.stderr, new RegExp(`${link} on its path is a symbolic link to nothing.*\\[TRIB_DATA_DIR\\]`));

  // Like mkdir -p: a data directory whose parents are missing is made with them.
  const nested = join(root, 'var', 'lib', 'tributary');
  const node = await startCliNode(t, nested);
  await node.stop();
  assert.ok(existsSync(join(nested, 'log.db')));
});

test('passwd hashes a piped password; --username prints an entry the config accepts', async (t) => {
  const piped = spawnSync(process.execPath, [CLI, 'passwd'], { input: 'hunter2\n', encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(await verifyPassword('hunter2', piped.stdout.trim()), true);

  const entry = spawnSync(process.execPath, [CLI, 'passwd', '--username', 'pump-7'], { input: 'hunter2\n', encoding: 'utf8' });
  assert.equal(entry.status, 0, entry.stderr);
  const file = join(tempDir(t), 'users.yaml');
  writeFileSync(file, `mqtt:\n  auth:\n    users:\n${entry.stdout.replace(/^/gm, '      ')}`);
  const config = loadConfig({ file, env: {} });
  assert.equal(config.mqtt.auth.users[0]!.username, 'pump-7');
  assert.equal(await verifyPassword('hunter2', config.mqtt.auth.users[0]!.password), true);
  // The SCRAM credentials of the Kafka endpoint, one per mechanism, made from the same password.
  const scram = (config.mqtt.auth.users[0]!.scram ?? []).map((c) => parseScramCredential(c) as ScramCredential);
  assert.deepEqual(scram.map((c) => [c.mechanism, c.iterations]), [['SCRAM-SHA-256', 4096], ['SCRAM-SHA-512', 4096]]);
  for (const c of scram) assert.deepEqual(formatScramCredential(await makeScramCredential(c.mechanism, 'hunter2', c.iterations, c.salt)), formatScramCredential(c));

  const empty = spawnSync(process.execPath, [CLI, 'passwd'], { input: '\n', encoding: 'utf8' });
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /an empty password is not accepted \[TRIB_USAGE\]/);
});
