// The one schema of Tributary's configuration, with its defaults. Running with no config file at
// all gives the embedded defaults of the user-facing contract (ARCHITECTURE.md).
import { hostname } from 'node:os';
import { validate as validCron } from 'node-cron';
import { z } from 'zod';
import { isLoopbackHost } from '../http/auth.js';
import { TopicMapper } from '../mqtt/mapping.js';
import { parseDuration, parseSize } from './units.js';

const port = z.number().int().min(0).max(65535);

const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null) ctx.addIssue({ code: 'custom', message: `'${value}' is not a duration (e.g. 500ms, 30s, 15m, 12h, 7d)` });
    return ms ?? 0;
  });

const size = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === null) ctx.addIssue({ code: 'custom', message: `'${value}' is not a size (e.g. 512MiB, 2GB, 1048576)` });
    return bytes ?? 0;
  });

const retention = z.strictObject({
  /** Batches whose newest record is older than this are deleted. null keeps them forever. */
  maxAge: duration.nullable().default(604_800_000), // 7 days, Kafka's own default
  /** A partition keeps at most this many bytes; the oldest batches go first. null = no cap. */
  maxBytes: size.nullable().default(null),
});

/** A topic's own retention: a key left out inherits log.retention's. */
const retentionOverride = z.strictObject({
  maxAge: duration.nullable().optional(),
  maxBytes: size.nullable().optional(),
});

const topic = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, '1-249 characters of A-Z a-z 0-9 . _ -'),
  partitions: z.number().int().min(1).max(10_000).default(1),
  /** Overrides log.retention for this topic. */
  retention: retentionOverride.optional(),
});

const tlsListener = z.strictObject({
  port: port.default(8883),
  /** PEM files. */
  cert: z.string().min(1),
  key: z.string().min(1),
  /** CA bundle that client certificates must chain to. */
  ca: z.string().min(1).nullable().default(null),
  /** none: no client certificate; request: verify one if sent; require: refuse clients without one. */
  clientCertificates: z.enum(['none', 'request', 'require']).default('none'),
});

const mappingRule = z.strictObject({
  /** An MQTT topic filter whose wildcards may be named: `factory/+site/+line/#rest`. */
  filter: z.string().min(1),
  /** The log topic; may use captures: `telemetry.{site}`. */
  topic: z.string().min(1),
  /** The record key; captures, `{mqtt.topic}` and `{mqtt.clientId}`; null stores no key. */
  key: z.string().nullable().default('{mqtt.topic}'),
});

const mapping = z.strictObject({
  /** Tried in order; the first match wins. */
  rules: z.array(mappingRule).default([{ filter: '#', topic: 'mqtt', key: '{mqtt.topic}' }]),
  /** What happens to a publish no rule matches: drop it (and count it), or refuse it. */
  unmatched: z.enum(['drop', 'refuse']).default('drop'),
  /** Partitions of a log topic created because a rule named it. */
  newTopicPartitions: z.number().int().min(1).max(10_000).default(1),
}).superRefine((mapping, ctx) => {
  // Filters and templates are checked here so that their problems are listed with all others.
  for (const problem of TopicMapper.problems(mapping.rules)) {
    const path = problem.key.split(/[.[\]]+/).filter((p) => p !== '').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    ctx.addIssue({ code: 'custom', path, message: problem.message });
  }
});

const limits = z.strictObject({
  maxPayload: size.default(1_048_576),
  maxTopicLength: z.number().int().min(1).max(65_535).default(1024),
  maxTopicLevels: z.number().int().min(1).max(128).default(32),
  maxConnections: z.number().int().min(1).default(10_000),
  /** New connections accepted per second across all listeners; more are refused at once. */
  connectionsPerSecond: z.number().int().min(1).default(500),
});

const user = z.strictObject({
  username: z.string().min(1),
  /** A hash made by `tributary passwd` (scrypt); never the password itself. */
  password: z.string().regex(/^\$scrypt\$/, 'a hash made by `tributary passwd` ($scrypt$...)'),
});

const aclRule = z.strictObject({
  /** Whom the rule applies to: a user name, or '*' for every client. */
  user: z.string().min(1).default('*'),
  /** Topic filters this client may publish to / subscribe to; %u is the user, %c the client id. */
  publish: z.array(z.string().min(1)).default([]),
  subscribe: z.array(z.string().min(1)).default([]),
});

const auth = z.strictObject({
  users: z.array(user).default([]),
  /** Anonymous clients; by default allowed only while no user is configured. */
  allowAnonymous: z.boolean().nullable().default(null),
  /** Null: every client may publish and subscribe anywhere. A list: only what it grants. */
  acl: z.array(aclRule).nullable().default(null),
});

export const configSchema = z.strictObject({
  node: z
    .strictObject({
      /** This gateway's name; upstream records carry it. */
      id: z.string().min(1).default(hostname()),
    })
    .prefault({}),
  dataDir: z.string().min(1).default('./data'),
  log: z
    .strictObject({
      durability: z.enum(['fsync', 'interval', 'write']).default('fsync'),
      fsyncInterval: duration.default(1000),
      retention: retention.prefault({}),
      retentionSchedule: z
        .string()
        .refine((s) => validCron(s), 'not a valid cron expression (e.g. "*/1 * * * *")')
        .default('*/1 * * * *'),
    })
    .prefault({}),
  topics: z
    .array(topic)
    .superRefine((topics, ctx) => {
      const seen = new Set<string>();
      topics.forEach((t, i) => {
        if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `topic '${t.name}' is listed twice` });
        seen.add(t.name);
      });
    })
    .default([{ name: 'mqtt', partitions: 1 }]),
  mqtt: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: port.default(1883),
      websocket: z
        .strictObject({
          enabled: z.boolean().default(true),
          port: port.default(8083),
          path: z.string().startsWith('/').default('/mqtt'),
        })
        .prefault({}),
      /** MQTT over TLS; off unless a certificate and key are given. */
      tls: tlsListener.nullable().default(null),
      mapping: mapping.prefault({}),
      limits: limits.prefault({}),
      auth: auth.prefault({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(8080),
      /** Bearer token for /metrics and /api/...; required unless host is a loopback address (docs/observability.md). */
      token: z.string().min(16, 'at least 16 characters (e.g. `openssl rand -hex 24`)').nullable().default(null),
    })
    .superRefine((http, ctx) => {
      if (http.token === null && !isLoopbackHost(http.host)) {
        ctx.addIssue({ code: 'custom', path: ['token'], message: `required when http.host ('${http.host}') is not a loopback address, or the HTTP API is open to the network` });
      }
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});

/** The configuration as the program sees it: validated, defaults filled in, frozen. */
export type Config = z.output<typeof configSchema>;
/** What a config file or override may contain. */
export type ConfigInput = z.input<typeof configSchema>;
