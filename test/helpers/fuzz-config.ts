// The config loader's fuzzer: random YAML files (trees of the schema's keys and others, random
// values, mangled text), random TRIBUTARY_* environments and flags. The loader must either return
// a deeply frozen config or throw ConfigInvalidError naming a key for each problem, or
// ConfigFileError for a file it cannot read or parse; any other exception is a finding. It prints
// nothing either: callers watch for process warnings (emitted a tick later, so not per case).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ConfigFileError, ConfigInvalidError } from '../../bridge/config/errors.js';
import { envNames, loadConfig, type LoadOptions } from '../../bridge/config/load.js';
import { configSchema } from '../../bridge/config/schema.js';
import { FuzzFinding, Rng } from './fuzz.js';

type Tree = { [key: string]: unknown };

const DEFAULTS = configSchema.parse({}) as unknown as Tree;
const ENV_NAMES = [...envNames().keys()];
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'dataDir ', 'DATADIR', '0', 'a.b', '<<'];

function scalar(rng: Rng): unknown {
  switch (rng.int(14)) {
    case 0: return rng.int(2) === 0;
    case 1: return null;
    case 2: return rng.int(70_000) - 100;
    case 3: return rng.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER + 2]);
    case 4: return rng.pick(['5s', '500ms', '15m', '7d', '-1s', '1e3s', '0', 'forever', '1MiB', '2GB', '1.5KiB', '-4B', 'NaN']);
    case 5: return rng.pick(['fsync', 'interval', 'write', 'drop', 'refuse', 'none', 'request', 'require', 'exactly-once', 'zstd', 'info', 'pretty', 'auto', 'json']);
    case 6: return rng.pick(['#', 'a/+/b', '+x/#', 'telemetry.{site}', '{mqtt.topic}', '{nope}', 'factory/+site/#rest', '$SYS/#', '']);
    case 7: return rng.pick(['127.0.0.1', '0.0.0.0', '::1', 'localhost', 'kafka:9092', 'host:99999', ':9092']);
    case 8: return rng.pick(['*/1 * * * *', '61 * * * *', 'every minute', '* * * * * * *']);
    case 9: return `$scrypt$${rng.text(20)}`;
    default: return rng.text(24);
  }
}

function value(rng: Rng, depth: number): unknown {
  if (depth > 4 || rng.chance(0.6)) return scalar(rng);
  if (rng.chance(0.4)) return Array.from({ length: rng.int(4) }, () => value(rng, depth + 1));
  const tree: Tree = {};
  for (let i = 0, n = rng.int(4); i < n; i++) tree[rng.chance(0.3) ? rng.pick(ODD_KEYS) : rng.text(8)] = value(rng, depth + 1);
  return tree;
}

/** The defaults' shape with some leaves changed, some keys added or removed, now and then odd keys. */
function mutateTree(rng: Rng, node: unknown, depth: number): unknown {
  if (Array.isArray(node)) {
    const out = node.map((item) => mutateTree(rng, item, depth + 1));
    if (rng.chance(0.2)) out.push(value(rng, depth + 1));
    return rng.chance(0.1) ? value(rng, depth) : out;
  }
  if (node !== null && typeof node === 'object') {
    const out: Tree = {};
    for (const [key, child] of Object.entries(node)) {
      if (rng.chance(0.5)) continue; // left to its default
      out[key] = rng.chance(0.7) ? mutateTree(rng, child, depth + 1) : value(rng, depth + 1);
    }
    if (rng.chance(0.15)) out[rng.chance(0.5) ? rng.pick(ODD_KEYS) : rng.text(10)] = value(rng, depth + 1);
    return rng.chance(0.05) ? value(rng, depth) : out;
  }
  return rng.chance(0.6) ? node : scalar(rng);
}

/** YAML text: a mutated tree, sometimes mangled character by character, sometimes with YAML's rarer features. */
function configText(rng: Rng): string {
  let text = YAML.stringify(mutateTree(rng, DEFAULTS, 0));
  if (rng.chance(0.2)) {
    const chars = [...text];
    for (let i = 0, n = 1 + rng.int(5); i < n && chars.length > 0; i++) {
      const at = rng.int(chars.length);
      if (rng.chance(0.5)) chars[at] = rng.pick([':', '-', ' ', '\t', '\n', '"', "'", '{', '[', '&a', '*a', '!!binary', '%', '?', '|', '#', '\u0000', 'é']);
      else chars.splice(at, 1);
    }
    text = chars.join('');
  }
  if (rng.chance(0.1)) text = rng.pick(['', '---\n', '- a\n- b\n', '42\n', 'null\n', 'a: &x [1]\nb: *x\n', 'dataDir: a\ndataDir: b\n', '<<: {dataDir: x}\n', '__proto__: {dataDir: polluted}\n', 'mqtt: !!js/function "x"\n']) + (rng.chance(0.5) ? text : '');
  return text;
}

function environment(rng: Rng): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (let i = 0, n = rng.int(4); i < n; i++) {
    const name = rng.chance(0.7) ? rng.pick(ENV_NAMES) : rng.pick(['TRIBUTARY_NOPE', 'TRIBUTARY_', 'LOG_LEVEL', 'TRIBUTARY_MQTT', 'TRIBUTARY_TOPICS', 'PATH']);
    const v = scalar(rng);
    env[name] = rng.chance(0.2) ? rng.pick(['[1, 2]', '{a: 1}', '- x', '~', '0x10', '1_000', '.inf', '.nan', "'quoted'"]) : String(v);
  }
  return env;
}

function flags(rng: Rng): LoadOptions['flags'] {
  if (rng.chance(0.7)) return {};
  const port = (): number | undefined => (rng.chance(0.5) ? undefined : rng.pick([0, 1883, -1, 65_536, 1.5, Number.NaN]));
  return { mqttPort: port(), wsPort: port(), httpPort: port(), dataDir: rng.chance(0.5) ? undefined : rng.text(10) };
}

function isDeeplyFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeeplyFrozen);
}

/** Runs cases [from, from + count) of the run with `seed`; files go to `dir`. Throws the first finding. */
export function fuzzConfigLoader(seed: number, from: number, count: number, dir: string): { loaded: number; invalid: number; fileErrors: number } {
  const tally = { loaded: 0, invalid: 0, fileErrors: 0 };
  const file = join(dir, 'fuzz.yaml');

  for (let i = from; i < from + count; i++) {
    const rng = Rng.forCase(seed, i);
    const text = configText(rng);
    const env = environment(rng);
    const options: LoadOptions = { env, flags: flags(rng) };
    if (rng.chance(0.9)) {
      writeFileSync(file, text);
      if (rng.chance(0.5)) options.file = file;
      else env.TRIBUTARY_CONFIG = file;
    }
    const input = (): string => JSON.stringify({ file: options.file !== undefined || env.TRIBUTARY_CONFIG !== undefined ? text : null, env, flags: options.flags });
    const fail = (problem: string): never => {
      throw new FuzzFinding('config', seed, i, problem, input());
    };
    try {
      const config = loadConfig(options);
      if (!isDeeplyFrozen(config)) fail('the config returned is not deeply frozen');
      if (Object.getPrototypeOf(config) !== Object.prototype) fail('the config returned does not have a plain object prototype');
      tally.loaded++;
    } catch (err) {
      if (err instanceof FuzzFinding) throw err;
      if (err instanceof ConfigInvalidError) {
        if (err.problems.length === 0) fail('ConfigInvalidError without a problem');
        for (const p of err.problems) if (typeof p.key !== 'string' || p.key === '' || typeof p.message !== 'string' || p.message === '') fail(`a problem without a key or message: ${JSON.stringify(p)}`);
        tally.invalid++;
      } else if (err instanceof ConfigFileError) {
        tally.fileErrors++;
      } else {
        fail(`threw ${(err as Error)?.constructor?.name ?? typeof err}: ${(err as Error)?.stack ?? String(err)}`);
      }
    }
    if (({} as Tree).dataDir !== undefined || ({} as Tree).polluted !== undefined) fail('Object.prototype was polluted');
  }
  return tally;
}
