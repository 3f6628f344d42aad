// The one schema of Tributary's configuration, with its defaults. Running with no config file at
// all gives the embedded defaults of the user-facing contract (ARCHITECTURE.md).
import { hostname } from 'node:os';
import * as zlib from 'node:zlib';
import { validate as validCron } from 'node-cron';
import { z } from 'zod';
import { TOPIC_NAME, TOPIC_NAME_RULE } from '../../broker/log/topic-name.js';
import { isLoopbackHost } from '../shared/loopback.js';
import { compileRules } from '../shared/mapping-rules.js';
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
  name: z.string().regex(TOPIC_NAME, TOPIC_NAME_RULE),
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
  for (const problem of compileRules(mapping.rules).problems) {
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
  /** How long a new connection may take to deliver its CONNECT (TLS and WebSocket handshakes included). */
  connectTimeout: duration.refine((ms) => ms >= 1, 'at least 1ms').default(10_000),
  /** Connections still waiting for their CONNECT, in all and from one source address; the oldest make room (docs/security.md). */
  maxPendingConnects: z.number().int().min(1).default(1000),
  /** At least connectionsPerSecond: a burst admitted at once is accepted before any of it is read. */
  maxPendingConnectsPerAddress: z.number().int().min(1).default(500),
  /** Open connections from one source address (an IPv6 /64); devices behind one NAT share it. */
  maxConnectionsPerAddress: z.number().int().min(1).default(5000),
  /**
   * The largest CONNECT (client id, will, user name, password): what a connection that has proven
   * nothing may make the broker hold, times maxPendingConnects at worst.
   */
  maxConnectSize: size.default(65_536),
});

/** What an MQTT 5.0 client is told in CONNACK, and held to (docs/mqtt5.md). */
const v5 = z.strictObject({
  /** Receive Maximum: QoS 1/2 publishes a client may have unacknowledged at once. */
  receiveMaximum: z.number().int().min(1).max(65_535).default(1000),
  /** Topic Alias Maximum: the highest topic alias a client may set; 0 refuses topic aliases. */
  topicAliasMaximum: z.number().int().min(0).max(65_535).default(32),
  /** Server Keep Alive: a client asking for no keep-alive, or a longer one, is given this one. null = the client's. */
  serverKeepAlive: duration
    .refine((ms) => ms >= 1000 && ms <= 65_535_000 && ms % 1000 === 0, 'whole seconds, from 1s to 65535s')
    .nullable()
    .default(null),
  /** Property bytes a PUBLISH may carry beyond limits.maxPayload; with it, the Maximum Packet Size announced. */
  maxPropertiesSize: size.default(16_384),
  /** User properties stored as record headers: named prefix + name; `allow` lists the names stored (null: all). */
  userProperties: z
    .strictObject({
      prefix: z.string().default('mqtt.user.'),
      allow: z.array(z.string().min(1)).nullable().default(null),
    })
    .prefault({}),
});

/** Persistent sessions (clean session off): their offline queues and their expiry (docs/mqtt.md). */
const sessions = z.strictObject({
  /** Most messages queued for one offline session; newer ones are not queued (counted, logged once). null = no bound. */
  maxQueuedMessages: z.number().int().min(1).nullable().default(1_000_000),
  /** Most bytes (packet and payload as stored) queued for one offline session. null = no bound. */
  maxQueuedBytes: size.nullable().default(268_435_456), // 256 MiB
  /** A session offline this long is removed with its subscriptions and queue. null = never. */
  expiry: duration.nullable().default(604_800_000), // 7 days, as log.retention.maxAge
});

const user = z.strictObject({
  username: z.string().min(1),
  /** A hash made by `tributary passwd` (scrypt); never the password itself. */
  password: z.string().regex(/^\$scrypt\$/, 'a hash made by `tributary passwd` ($scrypt$...)'),
  /** SCRAM credentials made by `tributary passwd --username` (Kafka endpoint, SCRAM-SHA-256/512); never the password. */
  scram: z.array(z.string().regex(/^\$scram-sha-(256|512)\$/, 'a SCRAM credential made by `tributary passwd --username` ($scram-sha-256$... or $scram-sha-512$...)')).optional(),
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
  /**
   * The forms a client id must take, `*` for any run of characters and `%u` for the user name
   * (`['%u', '%u-*']`); null: any id. Others get CONNACK 2 (identifier rejected).
   */
  clientIds: z.array(z.string().min(1)).nullable().default(null),
});

const upstreamSasl = z.strictObject({
  /** null: no SASL. */
  mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).nullable().default(null),
  username: z.string().default(''),
  /** Better set through TRIBUTARY_UPSTREAM_SASL_PASSWORD than in the file; never logged. */
  password: z.string().default(''),
});

const upstreamTls = z.strictObject({
  enabled: z.boolean().default(false),
  /** PEM files: the CA that signed Kafka's certificate (null: the system's CAs). */
  ca: z.string().min(1).nullable().default(null),
  /** A client certificate and key, for clusters that require one. */
  cert: z.string().min(1).nullable().default(null),
  key: z.string().min(1).nullable().default(null),
  /** The name Kafka's certificate must carry, when it differs from the broker host. */
  serverName: z.string().min(1).nullable().default(null),
});

const upstream = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** host:port of one or more Kafka brokers. */
    brokers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port')).default([]),
    /** The upstream topic of a log topic: {node} and {topic} are replaced. */
    topicTemplate: z.string().min(1).default('edge.{node}.{topic}'),
    /** Log topics to forward; null forwards every topic, also those created later. */
    topics: z.array(z.string().min(1)).nullable().default(null),
    /** exactly-once: records and cursor committed in one Kafka transaction; at-least-once: idempotent producer, local cursor. */
    mode: z.enum(['exactly-once', 'at-least-once']).default('exactly-once'),
    /**
     * Most records and bytes sent in one batch (one transaction in exactly-once mode). A batch's
     * records for one partition travel as one Kafka record batch: keep batchBytes below the
     * topic's max.message.bytes (1 MiB by default).
     */
    batchRecords: z.number().int().min(1).max(1_000_000).default(10_000),
    batchBytes: size.default(1_000_000),
    /** How long the forwarder waits for more records once it has caught up. */
    linger: duration.default(5),
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
    tls: upstreamTls.prefault({}),
    sasl: upstreamSasl.prefault({}),
    /** Reconnect backoff: doubles from retryInitial up to retryMax, with jitter. */
    retryInitial: duration.default(250),
    retryMax: duration.default(30_000),
    /** Kafka requests that take longer fail (and the forwarder reconnects). */
    requestTimeout: duration.default(15_000),
    /**
     * Kafka aborts an exactly-once transaction open longer than this (the producer is then fenced).
     * Keep it above the time one batch may take on the slowest link; at most the cluster's
     * transaction.max.timeout.ms.
     */
    transactionTimeout: duration.default(60_000),
    /** Compacted topic holding the exactly-once cursors, keyed by node/topic/partition. */
    cursorTopic: z.string().regex(TOPIC_NAME, TOPIC_NAME_RULE).default('tributary.cursors'),
    /** Create missing upstream topics (with the log topic's partition count). */
    createTopics: z.boolean().default(true),
    /** Replication factor of topics it creates; -1 = the cluster's default. */
    replicationFactor: z.number().int().min(-1).max(32).default(-1),
  })
  .superRefine((u, ctx) => {
    if (u.enabled && u.brokers.length === 0) ctx.addIssue({ code: 'custom', path: ['brokers'], message: 'at least one host:port is needed when upstream is enabled' });
    if (!u.topicTemplate.includes('{topic}') && (u.topics === null || u.topics.length > 1)) {
      ctx.addIssue({ code: 'custom', path: ['topicTemplate'], message: 'must contain {topic} when more than one log topic is forwarded' });
    }
    if (u.sasl.mechanism !== null && u.sasl.username === '') ctx.addIssue({ code: 'custom', path: ['sasl', 'username'], message: `needed for SASL ${u.sasl.mechanism}` });
    if ((u.tls.cert === null) !== (u.tls.key === null)) ctx.addIssue({ code: 'custom', path: ['tls', u.tls.cert === null ? 'cert' : 'key'], message: 'cert and key go together' });
    if (u.compression === 'zstd' && !('zstdCompress' in zlib)) ctx.addIssue({ code: 'custom', path: ['compression'], message: `zstd needs Node 22.15 or newer (this is ${process.version})` });
    if (u.retryMax < u.retryInitial) ctx.addIssue({ code: 'custom', path: ['retryMax'], message: 'must be at least retryInitial' });
  });

const kafkaTls = z.strictObject({
  /** PEM files. */
  cert: z.string().min(1),
  key: z.string().min(1),
  /** CA bundle that client certificates must chain to. */
  ca: z.string().min(1).nullable().default(null),
  /** none: no client certificate; request: verify one if sent; require: refuse clients without one. */
  clientCertificates: z.enum(['none', 'request', 'require']).default('none'),
});

const kafkaSasl = z.strictObject({
  /** The SASL mechanisms offered (SaslHandshake); SCRAM needs the users' `scram` credentials. */
  mechanisms: z.array(z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'])).min(1).default(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
  /** Whether a client must authenticate before any request but ApiVersions and SASL's; null: when mqtt.auth.users is not empty. */
  required: z.boolean().nullable().default(null),
});

const kafkaTopicPattern = z.string().regex(/^[A-Za-z0-9._*-]{1,249}$/, `a topic name (${TOPIC_NAME_RULE}) where * stands for any run of characters`);

const kafkaAclRule = z.strictObject({
  /** Whom the rule applies to: a user name, or '*' for every client (authenticated or not). */
  user: z.string().min(1).default('*'),
  /** Log topics this user may read (Fetch, ListOffsets, Metadata) / write (Produce): names, `*` for any run of characters. */
  read: z.array(kafkaTopicPattern).default([]),
  write: z.array(kafkaTopicPattern).default([]),
});

/** host:port, or [v6 address]:port. */
const HOST_PORT = /^(?:[^\s:[\]]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

const clusterPeer = z.strictObject({
  /** The peer's cluster.nodeId. */
  id: z.string().min(1),
  /** Where its replication listener (its cluster.listen) is reached: host:port. */
  address: z.string().regex(HOST_PORT, 'host:port (e.g. 10.0.0.12:9093)').refine((a) => { const m = HOST_PORT.exec(a); return m === null || Number(m[1]) <= 65535; }, 'port above 65535'),
  /** A witness (`tributary witness`) votes and keeps entry headers, no telemetry; it counts toward a commit under acks: quorum only (docs/replication.md). */
  witness: z.boolean().default(false),
  /**
   * Where Kafka clients reach the peer's Kafka endpoint (its kafka.advertisedHost/Port): host:port.
   * Metadata lists it as a broker, so clients given any node find the leader. null: not listed.
   */
  kafka: z.string().regex(HOST_PORT, 'host:port (e.g. 10.0.0.12:9092)').nullable().default(null),
  /** Where MQTT clients reach it: host:port. A follower sends MQTT 5.0 clients there (CONNACK 0x9C, Server Reference) while it is the leader. */
  mqtt: z.string().regex(HOST_PORT, 'host:port (e.g. 10.0.0.12:1883)').refine((a) => { const m = HOST_PORT.exec(a); return m === null || Number(m[1]) <= 65535; }, 'port above 65535').optional(),
});

/**
 * cluster.tls, of the data nodes and of the witness: mutual TLS on the replication listener and to
 * the peers (docs/security.md): PEM files. `cert` names this node's id (CN or a DNS subjectAltName)
 * and is signed by `ca`, the cluster's CA, which every peer's certificate must chain to. null:
 * plain TCP, no authentication.
 */
const clusterTls = z
  .strictObject({
    cert: z.string().min(1),
    key: z.string().min(1),
    ca: z.string().min(1),
  })
  .nullable()
  .default(null);

/**
 * Replication (docs/replication.md): this node, its peers, and when a record counts as committed.
 * Null (no block): one node, exactly as without replication.
 */
const cluster = z
  .strictObject({
    /** This node's id in the cluster; peers name it in their peers lists. */
    nodeId: z.string().min(1),
    /**
     * The cluster's name, the same on every node (needed with upstream): the upstream forwarder of
     * whichever node leads forwards as it (transactional id, cursors, {node} in topic names), so a
     * new leader resumes where the old one stopped and fences it (docs/replication.md, Upstream).
     */
    name: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, ".", "_" and "-" (it goes into upstream topic names)').nullable().default(null),
    /** The replication listener: votes and followers' fetches. */
    listen: z
      .strictObject({
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(9093),
      })
      .prefault({}),
    /** Every other voter of the cluster. */
    peers: z.array(clusterPeer).min(1, 'list the other nodes of the cluster (two more for three voters)'),
    /** quorum: a majority of voters has a record fsynced before it is acknowledged; all: every data replica has. */
    acks: z.enum(['quorum', 'all']).default('quorum'),
    /** A follower that hears nothing from a leader this long starts an election; a leader that hears from no majority this long steps down. Randomised up to 2x. */
    electionTimeoutMs: z.number().int().min(100).max(60_000).default(1500),
    /** The longest a follower's fetch waits at the leader for new entries (the leader's heartbeat); well below electionTimeoutMs. */
    fetchMaxWaitMs: z.number().int().min(10).max(10_000).default(250),
    /** The most entry bytes one fetch answer carries. */
    fetchMaxBytes: size.refine((bytes) => bytes >= 64 * 1024, 'at least 64KiB').default(4 * 1024 * 1024),
    /** Mutual TLS on the replication listener and to the peers (clusterTls). */
    tls: clusterTls,
    /**
     * What a follower does with MQTT clients: refuse (CONNACK 3 / 0x9C with the leader's address),
     * or forward (it takes clean-session publishers and hands their QoS 0/1 publishes to the leader,
     * acknowledging each once the leader's commit covers it: docs/replication.md).
     */
    followers: z.enum(['refuse', 'forward']).default('refuse'),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    const addresses = new Map<string, number>();
    c.peers.forEach((peer, i) => {
      if (peer.id === c.nodeId) ctx.addIssue({ code: 'custom', path: ['peers', i, 'id'], message: `'${peer.id}' is this node's own id (cluster.nodeId); list only the other nodes` });
      if (seen.has(peer.id)) ctx.addIssue({ code: 'custom', path: ['peers', i, 'id'], message: `'${peer.id}' is listed twice (also peers[${seen.get(peer.id)}])` });
      seen.set(peer.id, i);
      if (addresses.has(peer.address)) ctx.addIssue({ code: 'custom', path: ['peers', i, 'address'], message: `'${peer.address}' is listed twice (also peers[${addresses.get(peer.address)}])` });
      addresses.set(peer.address, i);
    });
    if (c.peers.every((peer) => peer.witness)) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: 'list at least one other data node (witness: false): a witness holds no records, so this node\'s would have no replica' });
    }
    const voters = c.peers.length + 1;
    if (voters === 2) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: 'two voters alone cannot fail over: neither is a majority without the other (add a third node or a witness)' });
    } else if (voters % 2 === 0) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: `${voters} voters survive no more failures than ${voters - 1}, and need a larger majority: use an odd number of voters` });
    }
    if (c.fetchMaxWaitMs * 2 >= c.electionTimeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['fetchMaxWaitMs'], message: `must be below half of cluster.electionTimeoutMs (${c.electionTimeoutMs}), or followers start elections against a live leader` });
    }
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
      /** How long a group commit waits for more appends at low rates (docs/performance.md); 0: none. */
      commitDelay: duration.refine((ms) => ms <= 100, 'at most 100ms').default(0),
      retention: retention.prefault({}),
      retentionSchedule: z
        .string()
        .refine((s) => validCron(s), 'not a valid cron expression (e.g. "*/1 * * * *")')
        .default('*/1 * * * *'),
      /** The data directory's disk budget (docs/disk.md). */
      disk: z
        .strictObject({
          /** The most the data directory's files may take; null = no cap. */
          maxBytes: size.nullable().default(null),
          /** The least free space its file system keeps; null = no floor. */
          minFreeBytes: size.nullable().default(64 * 1024 * 1024),
        })
        .prefault({}),
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
      /** QoS 0/1 publishes that only go to the log skip aedes's per-message work (docs/mqtt.md). */
      fastPath: z.boolean().default(true),
      sessions: sessions.prefault({}),
      /** MQTT 5.0 (3.1.1 clients are not affected). */
      v5: v5.prefault({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(8080),
      /** Bearer token for /metrics and /api/...; required unless host is a loopback address (docs/observability.md). */
      token: z.string().min(16, 'at least 16 characters (e.g. `openssl rand -hex 24`)').nullable().default(null),
      /** Names (or addresses) besides http.host and loopback that requests may carry in Host while no token is set (docs/security.md). */
      allowedHosts: z.array(z.string().regex(/^[^\s/:@]+$|^\[[0-9A-Fa-f:.]+\]$/, 'a host name or address without port')).default([]),
    })
    .superRefine((http, ctx) => {
      if (http.token === null && !isLoopbackHost(http.host)) {
        ctx.addIssue({ code: 'custom', path: ['token'], message: `required when http.host ('${http.host}') is not a loopback address, or the HTTP API is open to the network` });
      }
    })
    .prefault({}),
  /** The Kafka forwarder (docs/upstream.md); off unless enabled with brokers. null = off. */
  upstream: upstream.nullable().prefault({}),
  /**
   * The Kafka endpoint (docs/kafka.md): Kafka clients read the log over the Kafka protocol. Off by
   * default. Plaintext or TLS; SASL against the MQTT users; ACLs per log topic.
   */
  kafka: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(9092),
      /** The host clients are told to connect to (Metadata); null: `host`, or the address a client reached when `host` is a wildcard. */
      advertisedHost: z.string().min(1).nullable().default(null),
      /** The port clients are told to connect to (behind a port mapping); null: the port listened on. */
      advertisedPort: z.number().int().min(1).max(65535).nullable().default(null),
      /** The largest request frame accepted; a length prefix announcing more closes the connection before its body is read. */
      maxRequestSize: size.refine((bytes) => bytes >= 1024, 'at least 1KiB').default(16 * 1024 * 1024),
      /** Open Kafka connections at once; more are closed as they come (the node's file descriptors are shared with MQTT). */
      maxConnections: z.number().int().min(1).default(1000),
      /** TLS on the Kafka listener (Kafka's SSL / SASL_SSL); null: plaintext. */
      tls: kafkaTls.nullable().default(null),
      /** SASL against the users of mqtt.auth.users (docs/kafka.md, Authentication). */
      sasl: kafkaSasl.prefault({}),
      /** Null: every client may read and write every topic. A list: only what it grants (docs/kafka.md, Authorization). */
      acl: z.array(kafkaAclRule).nullable().default(null),
      /** The largest record batch a Produce request may carry per partition (Kafka's message.max.bytes); a larger one gets MESSAGE_TOO_LARGE. */
      maxMessageBytes: size.refine((bytes) => bytes >= 1024, 'at least 1KiB').default(1_048_588),
      /** What one Produce request's compressed batches may expand to together (they are stored uncompressed); more gets MESSAGE_TOO_LARGE. Bounds a zip bomb. */
      maxUncompressedBytes: size.refine((bytes) => bytes >= 1024, 'at least 1KiB').default(32 * 1024 * 1024),
    })
    .prefault({}),
  /** Replication (docs/replication.md); null: one node. */
  cluster: cluster.nullable().default(null),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** auto: readable lines on a terminal, JSON lines otherwise (systemd, Docker); or always json / pretty. */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
}).superRefine((config, ctx) => {
  // A follower reports a position only once it is fsynced, and the leader counts it toward an
  // acknowledgement (docs/replication.md, invariant 2): without fsync a power cut on a majority
  // loses what was acknowledged (Jepsen's NATS 2.12.1 analysis).
  if (config.cluster !== null && config.log.durability !== 'fsync') {
    ctx.addIssue({ code: 'custom', path: ['log', 'durability'], message: `must be fsync with a cluster block: replicas count toward acknowledgements only what they have fsynced (got ${config.log.durability})` });
  }
  // Every replica forwards as the cluster, not as itself (docs/replication.md, Upstream).
  if (config.cluster !== null && config.cluster.name === null && config.upstream?.enabled === true) {
    ctx.addIssue({ code: 'custom', path: ['cluster', 'name'], message: 'needed with upstream enabled: every node forwards as the cluster (the same name on every node; a former single node\'s node.id keeps its upstream topics and cursors)' });
  }
});

/** The configuration as the program sees it: validated, defaults filled in, frozen. */
export type Config = z.output<typeof configSchema>;
/** What a config file or override may contain. */
export type ConfigInput = z.input<typeof configSchema>;

/**
 * `tributary witness` (docs/replication.md, The witness): a voter of a cluster of two data nodes
 * that keeps entry headers and no records. Its own small file; its peers are the data nodes.
 */
export const witnessConfigSchema = z.strictObject({
  /** Its election state (cluster.db) and its header log (positions.db). */
  dataDir: z.string().min(1).default('./witness-data'),
  /** GET /healthz, /metrics and /api/cluster; null: no HTTP listener. */
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(8080),
    })
    .nullable()
    .prefault({}),
  cluster: z
    .strictObject({
      /** The witness's id; the data nodes list it in their peers with witness: true. */
      nodeId: z.string().min(1),
      /** Its replication listener: votes, announcements of a new leader. */
      listen: z
        .strictObject({
          host: z.string().min(1).default('0.0.0.0'),
          port: port.default(9093),
        })
        .prefault({}),
      /** The data nodes (their cluster.nodeId and replication address). */
      peers: z.array(clusterPeer).min(2, 'list both data nodes of the cluster'),
      /** As on the data nodes: it refuses candidates while it heard from a live leader within this. */
      electionTimeoutMs: z.number().int().min(100).max(60_000).default(1500),
      /** The longest its fetch waits at the leader for new entries; as on the data nodes. */
      fetchMaxWaitMs: z.number().int().min(10).max(10_000).default(250),
      /** Mutual TLS with the data nodes, as theirs (clusterTls): its certificate names cluster.nodeId. */
      tls: clusterTls,
    })
    .superRefine((c, ctx) => {
      const seen = new Map<string, number>();
      c.peers.forEach((peer, i) => {
        if (peer.id === c.nodeId) ctx.addIssue({ code: 'custom', path: ['peers', i, 'id'], message: `'${peer.id}' is the witness's own id (cluster.nodeId); list only the data nodes` });
        if (seen.has(peer.id)) ctx.addIssue({ code: 'custom', path: ['peers', i, 'id'], message: `'${peer.id}' is listed twice (also peers[${seen.get(peer.id)}])` });
        seen.set(peer.id, i);
        if (peer.witness) ctx.addIssue({ code: 'custom', path: ['peers', i, 'witness'], message: 'a witness\'s peers are the data nodes: one witness per cluster' });
      });
      if ((c.peers.length + 1) % 2 === 0) ctx.addIssue({ code: 'custom', path: ['peers'], message: `${c.peers.length + 1} voters: use an odd number of voters (two data nodes and this witness)` });
      if (c.fetchMaxWaitMs * 2 >= c.electionTimeoutMs) ctx.addIssue({ code: 'custom', path: ['fetchMaxWaitMs'], message: `must be below half of cluster.electionTimeoutMs (${c.electionTimeoutMs})` });
    }),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
});

export type WitnessConfig = z.output<typeof witnessConfigSchema>;
