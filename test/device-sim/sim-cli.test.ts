// `tributary sim` as a user runs it (a real child process) against a real Tributary node in this
// process: what it reports acknowledged is what the log holds, also through chaos, over WebSocket
// and in raw mode; bad options, an unreachable broker and refused credentials are one clear line.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Log } from '../../broker/log/log.js';
import { hashPassword } from '../../bridge/mqtt/passwords.js';
import { decodeBinary } from '../../device-sim/encoding.js';
import type { SimSummary } from '../../device-sim/stats.js';
import { startTestNode } from '../helpers/mqtt-node.js';
import { makePki } from '../helpers/pki.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));

interface SimRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `tributary sim ARGS` as a child; asynchronous, because the broker runs in this process. */
function startSim(args: string[]): { child: ChildProcess; done: Promise<SimRun> } {
  const child = spawn(process.execPath, [CLI, 'sim', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) };
}

const sim = (args: string[]): Promise<SimRun> => startSim(args).done;

async function simJson(args: string[]): Promise<SimSummary> {
  const run = await sim([...args, '--json']);
  assert.equal(run.code, 0, `sim failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as SimSummary;
}

interface Stored {
  topic: string;
  value: Buffer;
}

function storedRecords(log: Log, topic = 'mqtt'): Stored[] {
  const out: Stored[] = [];
  for (let partition = 0; partition < log.partitionCount(topic); partition++) {
    let offset = 0;
    for (;;) {
      const read = log.read(topic, partition, offset, { maxRecords: 10_000, maxBytes: 1e9 });
      for (const r of read.records) out.push({ topic: r.headers.find(([k]) => k === 'mqtt.topic')![1]!.toString(), value: r.value! });
      if (read.records.length === 0 || read.nextOffset >= read.logEndOffset) break;
      offset = read.nextOffset;
    }
  }
  return out;
}

/** `device/seq` of each acknowledged message, from --acked-out. */
function ackedKeys(file: string): Set<string> {
  const keys = new Set<string>();
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const { device, acked } = JSON.parse(line) as { device: string; acked: Array<[number, number]> };
    for (const [from, to] of acked) for (let s = from; s <= to; s++) keys.add(`${device}/${s}`);
  }
  return keys;
}

function storedKeys(records: Stored[]): string[] {
  return records.map((r) => {
    const body = JSON.parse(r.value.toString()) as { device: string; seq: number };
    assert.ok(r.topic.includes(`/${body.device}/`), 'the device id is in the topic too');
    return `${body.device}/${body.seq}`;
  });
}

test('a fixed count at QoS 1: acked = sent = records in the log, each device/seq exactly once', async (t) => {
  const { node, url } = await startTestNode(t);
  const ackedOut = join(tempDir(t), 'acked.ndjson');
  const summary = await simJson(['--url', url, '--devices', '12', '--rate', 'max', '--window', '20', '--count', '3000', '--seed', '1', '--acked-out', ackedOut]);
  assert.equal(summary.sent, 3000);
  assert.equal(summary.acked, 3000);
  assert.equal(summary.connected, 12);
  assert.equal(summary.unacked, 0);
  const keys = storedKeys(storedRecords(node.log));
  assert.equal(keys.length, summary.acked, 'the log holds exactly what was acknowledged');
  assert.equal(new Set(keys).size, keys.length, 'no duplicates');
  assert.deepEqual(new Set(keys), ackedKeys(ackedOut));
  assert.ok(summary.latency !== null && summary.latency.p99Ms >= summary.latency.p50Ms);
});

test('at a fixed rate for a duration, connecting over a ramp, with the default topic pattern and a mix of profiles', async (t) => {
  const { node, url } = await startTestNode(t);
  const summary = await simJson(['--url', url, '--devices', '8', '--rate', '20', '--duration', '1500ms', '--ramp', '500ms', '--seed', '2']);
  assert.equal(summary.connected, 8, 'all connected within the ramp');
  assert.ok(summary.acked > 8 * 20 * 0.5, `about 8 x 20 x 1.5 messages (${summary.acked})`);
  const records = storedRecords(node.log);
  assert.equal(records.length, summary.acked);
  const profiles = new Set(records.map((r) => (JSON.parse(r.value.toString()) as { profile: string }).profile));
  assert.deepEqual([...profiles].sort(), ['climate', 'energy', 'gps', 'vibration']);
  for (const r of records) assert.match(r.topic, /^factory\/[a-z]+\/line-[1-4]\/(th|vib|gps|em)-\d{4}\/telemetry$/);
});

test('--chaos drops and reconnects devices, and no acknowledged QoS 1 message is lost', async (t) => {
  const { node, url } = await startTestNode(t);
  const ackedOut = join(tempDir(t), 'acked.ndjson');
  const summary = await simJson([
    ...['--url', url, '--devices', '20', '--rate', '50', '--duration', '3s', '--seed', '3'],
    ...['--chaos', '--chaos-interval', '300ms', '--chaos-fraction', '0.3', '--chaos-downtime', '100ms', '--acked-out', ackedOut],
  ]);
  assert.ok(summary.chaosDrops > 10, `devices were dropped (${summary.chaosDrops})`);
  assert.ok(summary.reconnects > 10, `and came back (${summary.reconnects})`);
  const acked = ackedKeys(ackedOut);
  assert.equal(acked.size, summary.acked, 'each acknowledgement counted once');
  const stored = new Set(storedKeys(storedRecords(node.log)));
  const lost = [...acked].filter((k) => !stored.has(k));
  // (A message whose PUBACK was lost in a drop is sent again: the log may hold it twice, never less.)
  assert.deepEqual(lost, [], 'every acknowledged message is in the log');
});

test('QoS 2 over WebSocket with binary payloads and persistent sessions', async (t) => {
  const { node, wsUrl } = await startTestNode(t);
  const summary = await simJson(['--url', wsUrl, '--devices', '4', '--qos', '2', '--format', 'binary', '--persistent', '--rate', 'max', '--count', '400', '--profile', 'gps,energy', '--topic', 'fleet/{profile}/{device}', '--seed', '4']);
  assert.equal(summary.acked, 400);
  const records = storedRecords(node.log);
  assert.equal(records.length, 400, 'QoS 2: stored exactly once');
  for (const r of records) {
    const decoded = decodeBinary(r.value);
    assert.match(r.topic, new RegExp(`^fleet/${decoded.profile}/(gps|em)-000[1-4]$`));
  }
});

test('--raw: pre-encoded packets over several sockets and worker processes, all acknowledged and stored', async (t) => {
  const { node, url } = await startTestNode(t);
  const summary = await simJson(['--url', url, '--raw', '--connections', '4', '--workers', '2', '--count', '20000', '--seed', '5']);
  assert.equal(summary.mode, 'raw');
  assert.equal(summary.sent, 20_000);
  assert.equal(summary.acked, 20_000);
  const records = storedRecords(node.log);
  assert.equal(records.length, 20_000);
  assert.equal(new Set(records.map((r) => r.topic)).size, 4, 'one device topic per socket');
  assert.equal(new Set(storedKeys(records)).size, 4, "each socket sends its own device's sample");
  assert.ok(summary.cpuCores > 0);
});

test('refused credentials and an unreachable broker: one line, exit 1', async (t) => {
  const { url } = await startTestNode(t, { mqtt: { auth: { users: [{ username: 'sensor', password: await hashPassword('right') }] } } });
  for (const raw of [[], ['--raw']]) {
    const refused = await sim(['--url', url, '--username', 'sensor', '--password', 'wrong', '--count', '1', ...raw]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, raw.length === 0 ? /refused the connection: bad user name or password \(CONNACK 4\); check --username\/--password/ : /refused .*CONNACK return code 4/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
    assert.ok(!refused.stderr.includes('wrong'), 'the password is not echoed');
  }
  const ok = await simJson(['--url', url, '--username', 'sensor', '--password', 'right', '--count', '5', '--devices', '2']);
  assert.equal(ok.acked, 5);

  const closed = createServer();
  await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((done) => closed.close(done));
  const unreachable = await sim(['--url', `mqtt://127.0.0.1:${port}`, '--count', '1']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, new RegExp(`^tributary sim: cannot connect to mqtt://127.0.0.1:${port}: connect ECONNREFUSED`));
});

test('invalid options: one line naming the flag, exit 2, no stack trace', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--devices', '0'], /--devices must be an integer from 1/],
    [['--rate', 'fast'], /--rate must be a number/],
    [['--qos', '3'], /--qos must be an integer from 0 to 2/],
    [['--url', 'http://x'], /--url scheme must be mqtt/],
    [['--profile', 'toaster'], /unknown profile 'toaster'/],
    [['--topic', 'a/#'], /--topic must be a topic name without wildcards/],
    [['--topic', 'a/{bogus}'], /unknown placeholder \{bogus\}/],
    [['--duration', 'soon'], /--duration must be a duration/],
    [['--format', 'xml'], /--format must be json or binary/],
    [['--start-time', 'yesterday'], /--start-time must be an ISO 8601 time/],
    [['--raw', '--qos', '2'], /--raw publishes at QoS 1 only/],
    [['--workers', '2'], /need --raw/],
    [['--raw', '--devices', '5'], /--devices applies to MQTT.js devices, not to --raw/],
    [['--chaos-fraction', '0.5'], /need --chaos/],
    [['--chaos', '--chaos-interval', '0'], /--chaos-interval must be at least 1ms/],
    [['--ca', 'ca.pem'], /apply to mqtts:\/\/ and wss:\/\//],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const r = await sim(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const help = await sim(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: tributary sim/);
});

test('mqtts:// with the CA of the broker; without it, a clear TLS error', async (t) => {
  const pki = makePki(t);
  const { node } = await startTestNode(t, { mqtt: { tls: { port: 0, cert: pki.serverCert, key: pki.serverKey } } });
  const url = `mqtts://127.0.0.1:${node.mqtt.ports.tls}`;
  const summary = await simJson(['--url', url, '--ca', pki.ca, '--devices', '3', '--count', '30', '--rate', 'max']);
  assert.equal(summary.acked, 30);
  assert.equal(storedRecords(node.log).length, 30);
  const untrusted = await sim(['--url', url, '--count', '1']);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /^tributary sim: TLS handshake with mqtts:\/\/127\.0\.0\.1:\d+ failed: .*; pass the broker's CA with --ca FILE \(or --insecure\)\n$/);
  const missing = await sim(['--url', url, '--ca', join(tempDir(t), 'nope.pem')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--ca: cannot read .*nope\.pem \(ENOENT\)/);
});

test('Ctrl-C (SIGINT) ends an open-ended run with a summary of what was acknowledged', async (t) => {
  const { node, url } = await startTestNode(t);
  const { child, done } = startSim(['--url', url, '--devices', '5', '--rate', '50', '--json']);
  await waitFor(() => node.log.topics()[0]!.partitions[0]!.logEndOffset >= 20, 'messages in the log');
  child.kill('SIGINT');
  const run = await done;
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as SimSummary;
  assert.ok(summary.acked > 0);
  assert.equal(storedRecords(node.log).length, summary.acked);
});

/** Runs `tributary sim ARGS` on a pseudo-terminal (util-linux `script`); returns what the terminal shows. */
async function simOnTerminal(args: string[]): Promise<string> {
  const command = [process.execPath, CLI, 'sim', ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (c: Buffer) => (screen += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, screen);
  return screen;
}

test('on a terminal: a live line of figures on stderr while it runs, in both modes', async (t) => {
  const { url } = await startTestNode(t);
  const devices = await simOnTerminal(['--url', url, '--devices', '3', '--rate', '20', '--duration', '2500ms']);
  assert.match(devices, /\r\x1b\[K\d+s {2}up 3\/3 {2}[\d,]+ msg\/s {2}acked [\d,]+ {2}in flight \d+ {2}p50 [\d.]+ ms p99 [\d.]+ ms {2}errors 0 {2}reconnects 0/);
  assert.match(devices, /tributary sim \(mqtt\.js\): 3 devices/);
  const raw = await simOnTerminal(['--url', url, '--raw', '--connections', '4', '--workers', '2', '--rate', '500', '--duration', '2500ms']);
  assert.match(raw, /\r\x1b\[K\d+s {2}up 4\/4 {2}[\d,]+ msg\/s {2}acked [1-9][\d,]* {2}in flight \d+ {2}p50 - p99 - {2}errors 0 {2}reconnects 0/);
  assert.match(raw, /tributary sim \(raw\): 4 connections/);
});

test('QoS 0: sent, not acknowledged; at --rate max it is paced by the socket and still stops', async (t) => {
  const { node, url } = await startTestNode(t);
  const summary = await simJson(['--url', url, '--qos', '0', '--devices', '3', '--rate', '50', '--duration', '1s', '--profile', 'vibration']);
  assert.ok(summary.sent > 0);
  assert.equal(summary.acked, 0);
  assert.equal(summary.latency, null);
  assert.equal(summary.failed, 0);
  // Nothing is lost at a modest rate on loopback, though QoS 0 promises nothing.
  await waitFor(() => storedRecords(node.log).length === summary.sent, 'every QoS 0 message stored');

  const flood = await simJson(['--url', url, '--qos', '0', '--devices', '2', '--rate', 'max', '--window', '10', '--duration', '500ms']);
  assert.ok(flood.sent > summary.sent, 'a closed loop on socket writes');
  assert.equal(flood.failed, 0);
  // The broker stops reading rather than dropping: even the flood is stored whole.
  await waitFor(() => storedRecords(node.log).length === summary.sent + flood.sent, 'every QoS 0 message of the flood stored');
});

test('a server that is not an MQTT broker: one line, exit 1', async (t) => {
  const http = createHttpServer((_request, response) => response.end('hello'));
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  t.after(() => new Promise((done) => http.close(done)));
  const port = (http.address() as AddressInfo).port;
  const tcp = await sim(['--url', `mqtt://127.0.0.1:${port}`, '--count', '1']);
  assert.equal(tcp.code, 1);
  assert.match(tcp.stderr, new RegExp(`^tributary sim: cannot connect to mqtt://127.0.0.1:${port}: it does not answer as an MQTT broker \\(.+\\)\\n$`));
  const ws = await sim(['--url', `ws://127.0.0.1:${port}/mqtt`, '--count', '1']);
  assert.equal(ws.code, 1);
  assert.match(ws.stderr, /^tributary sim: cannot connect to ws:\/\/127\.0\.0\.1:\d+\/mqtt: .+\n$/);
});

test('--seed with --start-time: every run sends the same payloads, device by device', async (t) => {
  const { node, url } = await startTestNode(t);
  const args = (run: string, seed: string): string[] => ['--url', url, '--devices', '4', '--rate', 'max', '--window', '5', '--count', '400', '--fault-rate', '0.05', '--seed', seed, '--start-time', '2026-01-05T06:00:00Z', '--topic', `${run}/{device}`];
  for (const [run, seed] of [['a', '11'], ['b', '11'], ['c', '12']] as const) assert.equal((await simJson(args(run, seed))).acked, 400);
  const byRun = new Map<string, Map<string, string>>();
  for (const r of storedRecords(node.log)) {
    const [run, device] = r.topic.split('/') as [string, string];
    const body = JSON.parse(r.value.toString()) as { seq: number; ts: number };
    if (!byRun.has(run)) byRun.set(run, new Map());
    byRun.get(run)!.set(`${device}/${body.seq}`, r.value.toString());
  }
  const [a, b, c] = ['a', 'b', 'c'].map((run) => byRun.get(run)!);
  const common = [...a!.keys()].filter((k) => b!.has(k));
  assert.ok(common.length > 300, 'the runs share most device/seq pairs');
  for (const k of common) assert.equal(a!.get(k), b!.get(k), `${k}: same seed, same payload`);
  assert.equal(JSON.parse(a!.get('th-0001/1')!).ts, Date.UTC(2026, 0, 5, 6, 0, 1), 'sample 1 is one second after the start at --rate max');
  const differing = [...a!.keys()].filter((k) => c!.has(k) && a!.get(k) !== c!.get(k));
  assert.ok(differing.length > 0, 'another seed, other payloads');
});

test('--protocol 5: devices publish MQTT 5.0 with user properties (stored as headers); --raw --protocol 5 goes through the fast path', async (t) => {
  const { node, url } = await startTestNode(t);
  const summary = await simJson(['--url', url, '--protocol', '5', '--devices', '4', '--rate', 'max', '--count', '400', '--seed', '3']);
  assert.equal(summary.acked, 400);
  const records = node.log.read('mqtt', 0, 0, { maxRecords: 10_000 }).records;
  assert.equal(records.length, 400);
  for (const r of records) {
    const headers = new Map(r.headers.map(([k, v]) => [k, v!.toString()]));
    const sample = JSON.parse(r.value!.toString()) as { device: string; seq: number; profile: string };
    assert.equal(headers.get('mqtt.user.device'), sample.device);
    assert.equal(headers.get('mqtt.user.seq'), String(sample.seq));
    assert.equal(headers.get('mqtt.user.profile'), sample.profile);
  }

  assert.equal(node.mqtt.stats.publishesFastPath, 400, 'v5 PUBLISHes with user properties: the fast path too');

  const raw = await simJson(['--url', url, '--raw', '--protocol', '5', '--connections', '2', '--count', '4000', '--seed', '3']);
  assert.equal(raw.acked, 4000);
  assert.equal(node.mqtt.stats.publishesFastPath, 4400, 'v5 PUBLISHes without properties: the fast path');
  assert.equal((await sim(['--url', url, '--protocol', '3'])).code, 2, '--protocol 3 is refused');
});
