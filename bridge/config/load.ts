// The one door of configuration: embedded defaults < YAML file < TRIBUTARY_* environment < CLI
// flags. This is the only module that reads process.env. Every problem is reported at once, each
// naming its key; the result is deeply frozen.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigFileError, ConfigInvalidError, type ConfigProblem } from './errors.js';
import { configSchema, witnessConfigSchema, type Config, type WitnessConfig } from './schema.js';

/** The common keys that have their own command-line flag. */
export interface ConfigFlags {
  dataDir?: string;
  mqttPort?: number;
  wsPort?: number;
  httpPort?: number;
}

export interface LoadOptions {
  /** A YAML file; when absent, TRIBUTARY_CONFIG names one, else the embedded defaults apply. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
}

type Tree = { [key: string]: unknown };

const ENV_PREFIX = 'TRIBUTARY_';
const ENV_CONFIG_FILE = 'TRIBUTARY_CONFIG';

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env[ENV_CONFIG_FILE];
  const problems: ConfigProblem[] = [];
  const layers: Tree[] = [];
  if (file !== undefined && file !== '') layers.push(readConfigFile(file));
  layers.push(envOverrides(env, problems));
  layers.push(flagOverrides(options.flags ?? {}));

  const parsed = configSchema.safeParse(layers.reduce(mergeTrees, {}));
  if (!parsed.success) problems.push(...parsed.error.issues.flatMap(toProblems));
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigInvalidError(problems, describeSources(file, env, options.flags));
  }
  return deepFreeze(parsed.data);
}

/**
 * `tributary witness`'s config (schema.ts, witnessConfigSchema): its file and --data-dir only; the
 * TRIBUTARY_* overrides are the node's keys, which a witness does not have.
 */
export function loadWitnessConfig(options: { file: string; dataDir?: string }): WitnessConfig {
  const tree = readConfigFile(options.file);
  const parsed = witnessConfigSchema.safeParse(options.dataDir === undefined ? tree : mergeTrees(tree, { dataDir: options.dataDir }));
  if (!parsed.success) throw new ConfigInvalidError(parsed.error.issues.flatMap(toProblems), options.file);
  return deepFreeze(parsed.data);
}

/** The defaults alone, as `tributary start` with no config runs. */
export function defaultConfig(): Config {
  return loadConfig({ env: {} });
}

function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigFileError(file, code === 'ENOENT' ? 'no such file' : (err as Error).message, { cause: err });
  }
  let doc: unknown;
  try {
    // A warning (an unknown tag or directive, an ambiguous alias) would otherwise be printed as a
    // process warning while the file loads with the tag ignored: it is refused like an error, and
    // the library prints nothing itself (logLevel; a collection used as a key becomes its text,
    // then an unknown key).
    const document = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
    const problem = document.errors[0] ?? document.warnings[0];
    if (problem !== undefined) throw problem;
    doc = document.toJS();
  } catch (err) {
    throw new ConfigFileError(file, `not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigFileError(file, 'the top level must be a mapping of keys (e.g. "dataDir: ./data")');
  }
  return doc as Tree;
}

/** TRIBUTARY_MQTT_WEBSOCKET_PORT=9001 sets mqtt.websocket.port; LOG_LEVEL sets logging.level. */
function envOverrides(env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Tree {
  const names = envNames();
  const tree: Tree = {};
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue;
    const path = name === 'LOG_LEVEL' ? ['logging', 'level'] : names.get(name);
    if (path === undefined) {
      if (name.startsWith(ENV_PREFIX) && name !== ENV_CONFIG_FILE) {
        problems.push({ key: name, message: `unknown environment override (known: ${[...names.keys()].join(', ')})` });
      }
      continue;
    }
    setPath(tree, path, parseScalar(raw));
  }
  return tree;
}

/** Sections that default to null but are objects or lists when set: the file sets them. */
const FILE_ONLY = new Set(['mqtt.tls', 'mqtt.auth.acl', 'mqtt.auth.clientIds']);

/** Maps each overridable leaf key of the schema to its environment variable name. */
export function envNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const walk = (node: unknown, path: string[]): void => {
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      for (const [key, child] of Object.entries(node)) walk(child, [...path, key]);
      return;
    }
    if (Array.isArray(node)) return; // lists (topics) are set in the file only
    if (FILE_ONLY.has(path.join('.'))) return;
    names.set(ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_'), path);
  };
  walk(configSchema.parse({}), []);
  return names;
}

function flagOverrides(flags: ConfigFlags): Tree {
  const tree: Tree = {};
  if (flags.dataDir !== undefined) setPath(tree, ['dataDir'], flags.dataDir);
  if (flags.mqttPort !== undefined) setPath(tree, ['mqtt', 'port'], flags.mqttPort);
  if (flags.wsPort !== undefined) setPath(tree, ['mqtt', 'websocket', 'port'], flags.wsPort);
  if (flags.httpPort !== undefined) setPath(tree, ['http', 'port'], flags.httpPort);
  return tree;
}

/** An environment value as YAML reads a scalar (8080, true, null); anything else stays the text itself. */
function parseScalar(raw: string): unknown {
  try {
    const document = YAML.parseDocument(raw, { logLevel: 'error' });
    if (document.errors.length > 0 || document.warnings.length > 0) return raw;
    const value: unknown = document.toJS();
    return value !== null && typeof value === 'object' ? raw : value;
  } catch {
    return raw;
  }
}

function toProblems(issue: z.core.$ZodIssue): ConfigProblem[] {
  const key = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ key: formatPath([...issue.path, k]), message: 'unknown key' }));
  }
  return [{ key: key === '' ? '(top level)' : key, message: issue.message }];
}

/** `mqtt.auth.users[0].password`; a key that would not read as one (empty, spaces, dots) is quoted: `mqtt[""]`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    const key = String(part);
    if (!/^[A-Za-z0-9_$-]+$/.test(key)) return `${out}[${JSON.stringify(key)}]`;
    return out === '' ? key : `${out}.${key}`;
  }, '');
}

function describeSources(file: string | undefined, env: NodeJS.ProcessEnv, flags: ConfigFlags | undefined): string {
  const sources = [file === undefined ? 'embedded defaults' : file];
  if (Object.keys(env).some((k) => k.startsWith(ENV_PREFIX) || k === 'LOG_LEVEL')) sources.push('environment');
  if (flags !== undefined && Object.values(flags).some((v) => v !== undefined)) sources.push('command-line flags');
  return sources.join(' + ');
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node = (next !== null && typeof next === 'object' ? next : (node[key] = {})) as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function mergeTrees(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    // Own keys only, set as own keys: a file's `__proto__:` must stay a key (and be refused as
    // unknown), not become the merged object's prototype and vanish.
    const prior = Object.hasOwn(out, key) ? out[key] : undefined;
    const bothTrees = isTree(prior) && isTree(value);
    Object.defineProperty(out, key, { value: bothTrees ? mergeTrees(prior, value) : value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
