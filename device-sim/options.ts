// `tributary sim` options: parsed with node:util parseArgs, checked all at once, frozen. Every
// problem is a SimUsageError naming the flag, so that the CLI prints one line and exits 2.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { PayloadFormat } from './encoding.js';
import { SimUsageError } from './errors.js';
import { PROFILES, profileNamed, type Profile } from './profiles/index.js';

export interface SimOptions {
  /** The first of `urls`. */
  url: URL;
  /** Every gateway's address (--url list): devices move to the next one when a connection fails or a node answers CONNACK 3. */
  urls: readonly URL[];
  devices: number;
  /** Messages per second per device; 'max' = as fast as acknowledgements allow (closed loop). */
  rate: number | 'max';
  qos: 0 | 1 | 2;
  profiles: readonly Profile[];
  format: PayloadFormat;
  topic: string;
  clean: boolean;
  username: string | undefined;
  password: string | undefined;
  clientPrefix: string;
  rampMs: number;
  chaos: { intervalMs: number; fraction: number; downtimeMs: number } | null;
  durationMs: number | undefined;
  count: number | undefined;
  seed: string;
  /** Simulated clock: sample k of a device is stamped startTimeMs + k x its period (unset: wall clock). */
  startTimeMs: number | undefined;
  faultRate: number;
  /** Unacknowledged messages allowed per device; samples beyond it are skipped. */
  window: number;
  keepaliveS: number;
  drainMs: number;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  json: boolean;
  /** Live stats on stderr: on a TTY unless --quiet. */
  live: boolean;
  ackedOut: string | undefined;
  raw: { connections: number; workers: number; window: number } | null;
  /** MQTT 3.1.1 (4) or 5.0 (5); with 5, a device's publishes carry user properties (device, profile, seq). */
  protocolVersion: 4 | 5;
}

export const SIM_HELP = `Usage: tributary sim [options]

A fleet of simulated devices, each its own MQTT connection, publishing telemetry.

  --url URL[,URL...]     broker: mqtt://, mqtts://, ws://, wss:// (default mqtt://127.0.0.1:1883);
                         several (a list, or --url again): the gateways of a cluster, tried in
                         turn when a connection fails or a node refuses with CONNACK 3
  --devices N            number of devices (default 10)
  --rate R               messages per second per device, or "max" (default 1)
  --qos 0|1|2            (default 1)
  --protocol 4|5         MQTT 3.1.1 or 5.0 (default 4); with 5 each publish carries the user
                         properties device, profile and seq (--raw: none, as a bare sensor sends)
  --profile LIST         climate,vibration,gps,energy or "mix" (default mix: round-robin)
  --format json|binary   payload encoding (default json; binary layout: docs/simulator.md)
  --topic PATTERN        placeholders {site} {line} {device} {profile} {n}
                         (default factory/{site}/{line}/{device}/telemetry)
  --persistent           persistent sessions (clean=false); default clean sessions
  --username U, --password P
  --client-prefix P      client id = P + device id (default sim-)
  --ramp DURATION        spread connects over this time, with jitter (default 0)
  --chaos                drop devices at random and let them reconnect (reconnect storms)
  --chaos-interval D     time between chaos rounds (default 5s)
  --chaos-fraction F     share of devices dropped per round (default 0.1)
  --chaos-downtime D     how long a dropped device stays away, ±50 % (default 1s)
  --duration DURATION    stop after this long (e.g. 30s, 5m)
  --count N              stop after N messages in total
  --seed S               seed for every random choice (default: random, printed)
  --start-time T         simulated clock from T (ISO 8601 or epoch ms): sample k is stamped
                         T + k/rate, so that a seed gives the same payloads on every run
  --fault-rate P         chance per sample that a fault episode starts (default 0.001)
  --window N             unacknowledged messages per device before samples are skipped (default 100)
  --keepalive S          MQTT keepalive seconds (default 60)
  --drain DURATION       how long to wait for acknowledgements at the end (default 10s)
  --ca FILE, --cert FILE, --key FILE, --insecure   TLS settings for mqtts:// and wss://
  --json                 print the final summary as JSON on stdout
  --quiet                no live stats on stderr
  --acked-out FILE       write each device's acknowledged sequence numbers (NDJSON) at the end

High-rate mode (benchmarks): pre-encoded QoS 1 packets over raw TCP sockets
  --raw                  use it (mqtt:// only; --rate is then per connection, default max)
  --connections N        sockets (default 8)
  --workers N            worker processes sharing the sockets (default 1)
  --raw-window N         messages in flight per socket (default 100)`;

const FLAGS = {
  url: { type: 'string', multiple: true },
  devices: { type: 'string' },
  rate: { type: 'string' },
  qos: { type: 'string' },
  profile: { type: 'string' },
  format: { type: 'string' },
  topic: { type: 'string' },
  persistent: { type: 'boolean' },
  username: { type: 'string' },
  password: { type: 'string' },
  'client-prefix': { type: 'string' },
  ramp: { type: 'string' },
  chaos: { type: 'boolean' },
  'chaos-interval': { type: 'string' },
  'chaos-fraction': { type: 'string' },
  'chaos-downtime': { type: 'string' },
  duration: { type: 'string' },
  count: { type: 'string' },
  seed: { type: 'string' },
  'start-time': { type: 'string' },
  'fault-rate': { type: 'string' },
  window: { type: 'string' },
  keepalive: { type: 'string' },
  drain: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'acked-out': { type: 'string' },
  raw: { type: 'boolean' },
  connections: { type: 'string' },
  workers: { type: 'string' },
  'raw-window': { type: 'string' },
  protocol: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30` (seconds), `500ms`, `30s`, `5m`, `1h` -> milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw new SimUsageError(`${flag} must be a duration like 30s, 500ms, 5m or 1h, got '${text}'`);
  return Number(match[1]) * UNITS[match[2] ?? 's']!;
}

/** A period of a timer: zero would make it spin. */
function positiveDuration(flag: string, text: string): number {
  const ms = parseDuration(flag, text);
  if (ms < 1) throw new SimUsageError(`${flag} must be at least 1ms, got '${text}'`);
  return ms;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new SimUsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  return n;
}

function fraction(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new SimUsageError(`${flag} must be a number from 0 to 1, got '${text}'`);
  return n;
}

function readTlsFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SimUsageError(`${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SimUsageError(`--url must be a URL like mqtt://host:1883, got '${text}'`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'].includes(url.protocol)) {
    throw new SimUsageError(`--url scheme must be mqtt://, mqtts://, ws:// or wss://, got '${url.protocol.slice(0, -1)}://'`);
  }
  if (url.hostname === '') throw new SimUsageError(`--url has no host: '${text}'`);
  return url;
}

/** `--url a,b --url c` -> [a, b, c]; one scheme (and WebSocket path) for all, as one client config serves them. */
function parseUrls(texts: readonly string[]): URL[] {
  const urls = texts.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '').map(parseUrl);
  if (urls.length === 0) throw new SimUsageError('--url is empty');
  const first = urls[0]!;
  const odd = urls.find((u) => u.protocol !== first.protocol || u.pathname !== first.pathname || u.username !== first.username || u.password !== first.password);
  if (odd !== undefined) throw new SimUsageError(`--url: every address must use the same scheme, path and credentials as the first (${first.protocol}//...${first.pathname}), got '${odd.href}'`);
  return urls;
}

function parseStartTime(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 2 ** 48 - 1) throw new SimUsageError(`--start-time must be an ISO 8601 time or milliseconds since 1970, got '${text}'`);
  return ms;
}

function parseProfiles(text: string): Profile[] {
  if (text === 'mix') return [...PROFILES];
  return text.split(',').map((name) => {
    const profile = profileNamed(name.trim());
    if (profile === undefined) throw new SimUsageError(`--profile: unknown profile '${name}' (known: ${PROFILES.map((p) => p.name).join(', ')}, mix)`);
    return profile;
  });
}

function parseTopic(pattern: string): string {
  if (pattern === '' || /[#+]/.test(pattern)) throw new SimUsageError(`--topic must be a topic name without wildcards, got '${pattern}'`);
  const unknown = /\{(?!(?:site|line|device|profile|n)\})[^}]*\}/.exec(pattern);
  if (unknown !== null) throw new SimUsageError(`--topic: unknown placeholder ${unknown[0]} (known: {site} {line} {device} {profile} {n})`);
  return pattern;
}

/** Parses `tributary sim` arguments; null means --help was asked for. */
export function parseSimOptions(argv: readonly string[]): SimOptions | null {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: false, strict: true }));
  } catch (err) {
    throw new SimUsageError(`${(err as Error).message} (see tributary sim --help)`);
  }
  if (values.help === true) return null;
  const urls = parseUrls(values.url ?? ['mqtt://127.0.0.1:1883']);
  const url = urls[0]!;
  const raw = values.raw === true;
  const rateText = values.rate ?? (raw ? 'max' : '1');
  let rate: number | 'max' = 'max';
  if (rateText !== 'max') {
    rate = Number(rateText);
    if (rateText.trim() === '' || !Number.isFinite(rate) || rate <= 0 || rate > 1_000_000) throw new SimUsageError(`--rate must be a number of messages per second above 0, or "max", got '${rateText}'`);
  }
  const qos = integer('--qos', values.qos ?? '1', 0, 2) as 0 | 1 | 2;
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'binary') throw new SimUsageError(`--format must be json or binary, got '${format}'`);
  const secure = url.protocol === 'mqtts:' || url.protocol === 'wss:' || url.protocol === 'ssl:';
  if (!secure && (values.ca !== undefined || values.cert !== undefined || values.key !== undefined || values.insecure === true)) {
    throw new SimUsageError('--ca, --cert, --key and --insecure apply to mqtts:// and wss:// URLs only');
  }
  if ((values.cert === undefined) !== (values.key === undefined)) throw new SimUsageError('--cert and --key go together');
  if (values.password !== undefined && values.username === undefined) throw new SimUsageError('--password needs --username');
  const chaosFlags = values['chaos-interval'] ?? values['chaos-fraction'] ?? values['chaos-downtime'];
  if (values.chaos !== true && chaosFlags !== undefined) throw new SimUsageError('--chaos-interval, --chaos-fraction and --chaos-downtime need --chaos');
  if (raw) {
    if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') throw new SimUsageError('--raw speaks plain TCP only: use an mqtt:// URL');
    if (qos !== 1) throw new SimUsageError('--raw publishes at QoS 1 only');
    if (values.chaos === true || values.persistent === true) throw new SimUsageError('--raw does not combine with --chaos or --persistent');
    const deviceOnly = (['devices', 'window', 'ramp', 'acked-out', 'drain', 'keepalive', 'fault-rate'] as const).filter((flag) => values[flag] !== undefined);
    if (deviceOnly.length > 0) throw new SimUsageError(`${deviceOnly.map((f) => `--${f}`).join(', ')} ${deviceOnly.length === 1 ? 'applies' : 'apply'} to MQTT.js devices, not to --raw (which has --connections and --raw-window)`);
  } else if (values.connections !== undefined || values.workers !== undefined || values['raw-window'] !== undefined) {
    throw new SimUsageError('--connections, --workers and --raw-window need --raw');
  }
  const durationMs = values.duration === undefined ? undefined : parseDuration('--duration', values.duration);
  const count = values.count === undefined ? undefined : integer('--count', values.count, 1, Number.MAX_SAFE_INTEGER);
  if (durationMs === 0) throw new SimUsageError('--duration must be above 0');
  const tls: SimOptions['tls'] = { rejectUnauthorized: values.insecure !== true };
  if (values.ca !== undefined) tls.ca = readTlsFile('--ca', values.ca);
  if (values.cert !== undefined) tls.cert = readTlsFile('--cert', values.cert);
  if (values.key !== undefined) tls.key = readTlsFile('--key', values.key);
  return Object.freeze({
    url,
    urls: Object.freeze(urls),
    devices: integer('--devices', values.devices ?? '10', 1, 100_000),
    rate,
    qos,
    profiles: parseProfiles(values.profile ?? 'mix'),
    format,
    topic: parseTopic(values.topic ?? 'factory/{site}/{line}/{device}/telemetry'),
    clean: values.persistent !== true,
    username: values.username,
    password: values.password,
    clientPrefix: values['client-prefix'] ?? 'sim-',
    rampMs: values.ramp === undefined ? 0 : parseDuration('--ramp', values.ramp),
    chaos:
      values.chaos === true
        ? {
            intervalMs: positiveDuration('--chaos-interval', values['chaos-interval'] ?? '5s'),
            fraction: fraction('--chaos-fraction', values['chaos-fraction'] ?? '0.1'),
            downtimeMs: parseDuration('--chaos-downtime', values['chaos-downtime'] ?? '1s'),
          }
        : null,
    durationMs,
    count,
    seed: values.seed ?? String(Math.floor(Math.random() * 2 ** 31)),
    startTimeMs: values['start-time'] === undefined ? undefined : parseStartTime(values['start-time']),
    faultRate: fraction('--fault-rate', values['fault-rate'] ?? '0.001'),
    window: integer('--window', values.window ?? '100', 1, 65_000),
    keepaliveS: integer('--keepalive', values.keepalive ?? '60', 0, 65_535),
    drainMs: values.drain === undefined ? 10_000 : parseDuration('--drain', values.drain),
    tls,
    json: values.json === true,
    live: values.quiet !== true && process.stderr.isTTY === true,
    ackedOut: values['acked-out'],
    raw: raw
      ? {
          connections: integer('--connections', values.connections ?? '8', 1, 10_000),
          workers: integer('--workers', values.workers ?? '1', 1, 64),
          window: integer('--raw-window', values['raw-window'] ?? '100', 1, 65_000),
        }
      : null,
    protocolVersion: parseProtocol(values.protocol ?? '4'),
  });
}

function parseProtocol(text: string): 4 | 5 {
  if (text === '4' || text === '5') return Number(text) as 4 | 5;
  throw new SimUsageError(`--protocol must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got '${text}'`);
}
