// `npm run soak`: the fuzz tests' generators (test/helpers/fuzz-*.ts) run for longer, against one
// node in this process, round after round until the time is up: MQTT connections of generated and
// mangled packets, HTTP requests, config files. Between rounds a well-behaved MQTT client must get
// its publish stored and /healthz must answer. The first finding stops the run and prints its seed
// and case; `--seed` replays it.
//
//   npm run soak -- [--seed N] [--duration 10m] [--only mqtt,http,config] [--round 500]
//
// Prints one line per minute (with the live heap after a full collection when run as
// `node --expose-gc dist/bench/soak.js`), then a table and one JSON line ({"bench":"soak", ...}).
// Exits 1 on a finding.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { loadConfig } from '../bridge/config/load.js';
import { parseDuration } from '../bridge/config/units.js';
import { createLogger } from '../bridge/logger.js';
import { startNode } from '../bridge/main.js';
import { FuzzFinding, fuzzSeed } from '../test/helpers/fuzz.js';
import { fuzzConfigLoader } from '../test/helpers/fuzz-config.js';
import { fuzzHttp } from '../test/helpers/fuzz-http.js';
import { fuzzMqtt, storedByClient } from '../test/helpers/fuzz-mqtt.js';

const FUZZERS = ['mqtt', 'http', 'config'] as const;
type Fuzzer = (typeof FUZZERS)[number];
const TOKEN = 'soak-token-0123456789abcdef';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    duration: { type: 'string', default: '10m' },
    only: { type: 'string', default: FUZZERS.join(',') },
    round: { type: 'string', default: '500' },
  },
});
const seed = fuzzSeed({ FUZZ_SEED: values.seed ?? process.env.FUZZ_SEED });
const durationMs = parseDuration(values.duration!);
if (durationMs === null) throw new Error(`--duration: '${values.duration}' is not a duration (e.g. 90s, 10m, 2h)`);
const only = values.only!.split(',').map((s) => s.trim()) as Fuzzer[];
for (const f of only) if (!FUZZERS.includes(f)) throw new Error(`--only: unknown fuzzer '${f}' (known: ${FUZZERS.join(', ')})`);
const round = Number(values.round);
if (!Number.isInteger(round) || round < 1) throw new Error(`--round must be a positive integer, got '${values.round}'`);

const dir = mkdtempSync(join(tmpdir(), 'tributary-soak-'));
const config = loadConfig({
  env: {},
  flags: { dataDir: join(dir, 'data'), mqttPort: 0, wsPort: 0, httpPort: 0 },
});
const node = await startNode(
  { ...config, log: { ...config.log, durability: 'write' }, http: { ...config.http, token: TOKEN }, mqtt: { ...config.mqtt, host: '127.0.0.1', mapping: { ...config.mqtt.mapping, unmatched: 'refuse' }, limits: { ...config.mqtt.limits, connectionsPerSecond: 1_000_000 } } },
  createLogger(process.env.SOAK_LOG_LEVEL ?? 'silent'),
);
const good = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqtt.ports.tcp}`, { clientId: 'soak-good-client', reconnectPeriod: 0 });
for (let i = 0; i < 20; i++) await good.publishAsync(`plant/line-${i % 4}/temp`, `{"v":${i}}`, { qos: 1 });

const done: Record<Fuzzer, number> = { mqtt: 0, http: 0, config: 0 };
// Nothing of the node's or the loader's may print a process warning.
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.message));
const started = Date.now();
const rssStart = process.memoryUsage().rss;
let goodPublishes = 20;
let finding: FuzzFinding | null = null;
let lastReport = started;

/** RSS, and the heap live after a full collection when node runs with --expose-gc (a leak's trace). */
function memory(): string {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return `RSS ${(rss / 2 ** 20).toFixed(0)} MB${gc === undefined ? '' : `, live heap ${(heapUsed / 2 ** 20).toFixed(0)} MB`}`;
}

async function stillServing(): Promise<void> {
  await good.publishAsync('plant/soak/alive', String(goodPublishes), { qos: 1 });
  goodPublishes++;
  const stored = storedByClient(node.log, 'mqtt').get('soak-good-client') ?? 0;
  if (stored !== goodPublishes) throw new Error(`the good client has ${stored} records stored, published ${goodPublishes}`);
  const health = await fetch(`http://127.0.0.1:${node.http.port}/healthz`);
  if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
}

try {
  while (Date.now() - started < durationMs) {
    for (const fuzzer of only) {
      if (fuzzer === 'mqtt') await fuzzMqtt(seed, done.mqtt, round, { port: node.mqtt.ports.tcp, log: node.log, topic: 'mqtt' });
      if (fuzzer === 'http') await fuzzHttp(seed, done.http, round, { port: node.http.port, token: TOKEN, topic: 'mqtt' });
      if (fuzzer === 'config') fuzzConfigLoader(seed, done.config, round, dir);
      done[fuzzer] += round;
      await stillServing();
      if (warnings.length > 0) throw new FuzzFinding(fuzzer, seed, done[fuzzer] - round, `a process warning during cases ${done[fuzzer] - round}-${done[fuzzer] - 1} (--round ${round})`, warnings.join('\n'));
    }
    if (Date.now() - lastReport >= 60_000) {
      lastReport = Date.now();
      process.stdout.write(`${Math.round((lastReport - started) / 1000)} s: ${only.map((f) => `${f} ${done[f]}`).join(', ')}; ${memory()}\n`);
    }
  }
} catch (err) {
  if (!(err instanceof FuzzFinding)) throw err;
  finding = err;
} finally {
  await good.endAsync(true);
  await node.close();
  rmSync(dir, { recursive: true, force: true });
}

const seconds = (Date.now() - started) / 1000;
const rssEndMb = process.memoryUsage().rss / 2 ** 20;
console.log('\nfuzzer   cases     cases/s');
for (const f of only) console.log(`${f.padEnd(8)} ${String(done[f]).padStart(8)}  ${(done[f] / seconds).toFixed(0).padStart(8)}`);
console.log(`seed ${seed}, ${seconds.toFixed(0)} s, RSS ${(rssStart / 2 ** 20).toFixed(0)} -> ${rssEndMb.toFixed(0)} MB`);
if (finding !== null) console.log(`\nFINDING ${finding.message}`);
console.log(JSON.stringify({ bench: 'soak', seed, seconds: Math.round(seconds), cases: done, rssStartMb: Math.round(rssStart / 2 ** 20), rssEndMb: Math.round(rssEndMb), finding: finding?.message ?? null }));
process.exit(finding === null ? 0 : 1);
