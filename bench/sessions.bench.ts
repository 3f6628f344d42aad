// `npm run bench:sessions`: a persistent session (clean session off, QoS 1) that was offline while
// 1,000,000 messages were queued for it reconnects; what does that cost the broker's memory?
//
// Tributary: it runs once (as `npm start` launches it) so that the subscriber's session and its
// subscription exist, and stops; the queue is then written into its session store (mqtt.db) in one
// transaction, row for row as the store itself writes a queued delivery (aedes-packet + toRow),
// because queueing a million messages through MQTT would cost a million fsyncs of the session
// store. Tributary starts again, the subscriber reconnects with an MQTT.js client and takes the
// whole queue (checking order); the broker's peak resident memory (VmHWM) and the drain rate are
// read. Mosquitto (Debian's package, persistence on, max_queued_messages above the queue) is the
// peer: the same subscriber, the same queue sent to it by a publisher while the subscriber is away.
// Goal: Tributary's peak RSS <= 150 MB (the footprint goal). Prints a table, then one JSON line
// ({"bench":"sessions", ...}).
//
// BENCH_MESSAGES (default 1,000,000), BENCH_PAYLOAD (bytes, default 64); BENCH_PEER=0 skips
// Mosquitto; BENCH_DIR for the data directory (default .bench-data).
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { toRow, type StoredPacket } from '../bridge/mqtt/stored-packet.js';
import { benchScratch, freePort, memory, startMosquitto, startScriptSettings, waitForPort } from './processes.js';

const require = createRequire(import.meta.url);
const Packet = require('aedes-packet') as new (original: object) => StoredPacket;

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const PAYLOAD = Number(process.env.BENCH_PAYLOAD ?? 64);
const PEER = process.env.BENCH_PEER !== '0';
const GOAL_RSS_MB = 150;
const MB = 1_000_000;
const NODE_ID = 'bench-node';
const CLIENT_ID = 'historian';
const TOPIC = 'factory/site-1/line-3/device-42/telemetry';
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));
const LAUNCH = startScriptSettings();

interface Measured {
  name: 'tributary' | 'mosquitto';
  /** RSS with the queue stored, before the subscriber reconnects. */
  beforeRssMb: number;
  /** Peak RSS of the process up to the end of the drain (VmHWM). */
  peakRssMb: number;
  endRssMb: number;
  delivered: number;
  drainSeconds: number;
  msgsPerSec: number;
}

async function startTributary(dataDir: string): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...LAUNCH.nodeFlags, CLI, 'start', '--data-dir', dataDir, '--mqtt-port', String(port), '--ws-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...LAUNCH.env, ...process.env, LOG_LEVEL: 'warn', TRIBUTARY_NODE_ID: NODE_ID },
  });
  await waitForPort(port, child, 'tributary');
  return { port, process: child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

function client(port: number, clientId: string, clean: boolean): MqttClient {
  return mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 600 });
}

async function connected(c: MqttClient): Promise<void> {
  await new Promise<void>((done, fail) => {
    c.once('connect', () => done());
    c.once('error', fail);
  });
}

/** Leaves a persistent QoS 1 subscription behind: the session the queue is for. */
async function subscribeAndLeave(port: number): Promise<void> {
  const c = client(port, CLIENT_ID, false);
  await connected(c);
  await c.subscribeAsync('factory/#', { qos: 1 });
  await c.endAsync();
}

const payloadOf = (i: number): Buffer => {
  const payload = Buffer.alloc(PAYLOAD, 0x2e);
  payload.write(String(i).padStart(8, '0'));
  return payload;
};

/** Writes MESSAGES queued deliveries for the subscriber into a stopped Tributary's session store. */
function fillTributaryQueue(file: string): void {
  const db = new Database(file);
  try {
    const insert = db.prepare('INSERT INTO outgoing (client_id, broker_id, broker_counter, message_id, packet, payload) VALUES (?, ?, ?, NULL, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < MESSAGES; i++) {
        const packet = new Packet({ cmd: 'publish', topic: TOPIC, payload: payloadOf(i), qos: 1, retain: false, brokerId: NODE_ID, brokerCounter: i + 1 });
        const [json, payload] = toRow(packet);
        insert.run(CLIENT_ID, NODE_ID, i + 1, json, payload);
      }
    })();
  } finally {
    db.close();
  }
}

/** Publishes MESSAGES QoS 1 messages with up to 1,000 awaiting their PUBACK. */
async function publishAll(port: number): Promise<void> {
  const c = client(port, 'publisher', true);
  await connected(c);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < MESSAGES) await c.publishAsync(TOPIC, payloadOf(next++), { qos: 1 });
  };
  await Promise.all(Array.from({ length: 1000 }, worker));
  await c.endAsync();
}

/** Reconnects the subscriber and takes the whole queue; every message must come, in order. */
async function drain(name: Measured['name'], port: number, broker: ChildProcess): Promise<Measured> {
  await new Promise((done) => setTimeout(done, 1000)); // settle
  const before = memory(broker);
  const started = process.hrtime.bigint();
  const c = client(port, CLIENT_ID, false);
  let delivered = 0;
  const all = new Promise<void>((done, fail) => {
    c.on('message', (_topic, payload) => {
      const seq = Number(payload.subarray(0, 8).toString());
      if (seq !== delivered) fail(new Error(`${name}: message ${seq} arrived where ${delivered} was expected`));
      if (++delivered === MESSAGES) done();
    });
    c.once('error', fail);
    c.once('close', () => fail(new Error(`${name}: the subscriber was disconnected after ${delivered} messages`)));
  });
  await all;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await new Promise((done) => setTimeout(done, 500)); // the last PUBACKs
  const end = memory(broker);
  c.removeAllListeners('close');
  await c.endAsync(true);
  return {
    name,
    beforeRssMb: round(before.rssBytes / MB),
    peakRssMb: round(end.peakRssBytes / MB),
    endRssMb: round(end.rssBytes / MB),
    delivered,
    drainSeconds: round(seconds),
    msgsPerSec: Math.round(delivered / seconds),
  };
}

const round = (n: number): number => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  const { dir, children, cleanup } = benchScratch('sessions');
  try {
    const dataDir = join(dir, 'data');
    const first = await startTributary(dataDir);
    children.push(first.process);
    await subscribeAndLeave(first.port);
    await stop(first.process);
    const fillStarted = Date.now();
    fillTributaryQueue(join(dataDir, 'mqtt.db'));
    const fillSeconds = (Date.now() - fillStarted) / 1000;
    const tributary = await startTributary(dataDir);
    children.push(tributary.process);
    const t = await drain('tributary', tributary.port, tributary.process);
    await stop(tributary.process);

    const results = [t];
    if (PEER) {
      const mosquitto = await startMosquitto(dir, ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0', `max_queued_messages ${MESSAGES + 1}`, 'max_inflight_messages 100']);
      children.push(mosquitto.process);
      await subscribeAndLeave(mosquitto.port);
      await publishAll(mosquitto.port);
      results.push(await drain('mosquitto', mosquitto.port, mosquitto.process));
    }

    const rows = [
      ['broker', 'RSS queued, offline', 'peak RSS', 'RSS at end', 'drain', 'msgs/s'],
      ...results.map((r) => [r.name, `${r.beforeRssMb} MB`, `${r.peakRssMb} MB`, `${r.endRssMb} MB`, `${r.drainSeconds} s`, String(r.msgsPerSec)]),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`Sessions: a persistent QoS 1 session reconnects to ${MESSAGES} queued ${PAYLOAD}-byte messages (Tributary's queue written in ${fillSeconds.toFixed(1)} s)`);
    for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    const goalMet = t.peakRssMb <= GOAL_RSS_MB;
    console.log(`Tributary peak RSS ${t.peakRssMb} MB: goal <= ${GOAL_RSS_MB} MB ${goalMet ? 'met' : 'NOT met'}`);
    console.log(
      JSON.stringify({
        bench: 'sessions',
        messages: MESSAGES,
        payloadBytes: PAYLOAD,
        qos: 1,
        nodeFlags: LAUNCH.nodeFlags,
        env: LAUNCH.env,
        tributary: t,
        ...(PEER ? { mosquitto: results[1] } : {}),
        goalRssMb: GOAL_RSS_MB,
        goalMet,
      }),
    );
  } finally {
    cleanup();
  }
}

await main();
