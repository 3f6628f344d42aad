// The Kafka endpoint's listener: accepts connections (plaintext, or TLS with kafka.tls) and gives
// each a KafkaConnection. The node is one broker (id 0) leading every partition of the log. Who a
// connection is (SASL) and what it may do (kafka.acl): sasl/session.ts and authorization.ts. It is
// also the coordinator of every consumer group (./groups/).
// TODO: an idle timeout and per-address limits like MQTT's.
import { KafkaTraffic } from './traffic.js';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { CursorStore } from '../../broker/cursors.js';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Log } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import { listen } from '../net/listen.js';
import { loadTlsFiles, type TlsFiles } from '../net/tls-files.js';
import type { ApiHandler, BrokerIdentity } from './apis/api.js';
import { brokerIds, type KafkaClusterView } from './cluster-view.js';
import { APIS, SASL_APIS } from './apis/index.js';
import { KafkaAuthorizer } from './authorization.js';
import { KafkaConnection } from './connection.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { GroupOffsets } from './groups/offsets.js';
import type { KafkaSecurity } from './sasl/session.js';
import { KafkaUsers } from './sasl/users.js';

export interface KafkaServerOptions {
  host: string;
  port: number;
  /** What Metadata tells clients to connect to; null: host (or the address reached, for a wildcard host) and the bound port. */
  advertisedHost: string | null;
  advertisedPort: number | null;
  maxRequestSize: number;
  /** Open connections at once; a connection beyond it is closed at once. */
  maxConnections: number;
  /** Reported as the cluster id in Metadata. */
  clusterId: string;
  log: Log;
  logger: Logger;
  /** TLS on the listener (kafka.tls); null or absent: plaintext. */
  tls?: (TlsFiles & { clientCertificates: 'none' | 'request' | 'require' }) | null;
  /** Users, SASL mechanisms, whether authentication is required, the ACL; absent: no users, nothing required, no ACL. */
  security?: KafkaSecurity;
  /** The largest record batch a Produce partition takes (kafka.maxMessageBytes); default Kafka's 1048588. */
  maxMessageBytes?: number;
  /** What one Produce request's compressed batches may expand to together (kafka.maxUncompressedBytes); default 32 MiB. */
  maxUncompressedBytes?: number;
  /** Where consumer groups' committed offsets are kept; default: the log's cursors.db, opened and closed by the server. */
  cursors?: CursorStore;
  /** The APIs served; default all of ./apis/index.ts (tests narrow it). */
  apis?: readonly ApiHandler[];
  /** With replication: the cluster's nodes and leader, for Metadata (./cluster-view.ts); absent: one broker, id 0. */
  cluster?: KafkaClusterView;
}

const NODE_ID = 0;

const OPEN: KafkaSecurity = {
  users: KafkaUsers.fromConfig([]),
  mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'],
  required: false,
  authorizer: KafkaAuthorizer.fromConfig(null),
};

export class KafkaServer {
  private readonly connections = new Set<KafkaConnection>();
  private readonly apis: readonly ApiHandler[];
  private readonly byKey: ReadonlyMap<number, ApiHandler>;
  private readonly groups: GroupCoordinator;
  /** The cursor store the server opened itself (none given), closed with it. */
  private readonly ownCursors: CursorStore | null;
  private closing: Promise<void> | null = null;
  /** Connections closed at once because kafka.maxConnections were open. */
  private refused = 0;
  /** Requests and bytes since start (/metrics). */
  readonly traffic = new KafkaTraffic();
  private full = false;
  /** TLS connections accepted whose handshake is not done: they count against kafka.maxConnections too. */
  private readonly handshaking = new Map<string, Socket>();

  private constructor(
    private readonly server: Server,
    private readonly options: KafkaServerOptions,
  ) {
    this.apis = options.apis ?? [...APIS, ...SASL_APIS];
    this.byKey = new Map(this.apis.map((api) => [api.key, api]));
    this.ownCursors = options.cursors === undefined ? CursorStore.open(options.log.dataDir) : null;
    const cursors = options.cursors ?? this.ownCursors!;
    this.groups = new GroupCoordinator(new GroupOffsets(cursors), options.log, options.logger.child({ part: 'groups' }));
  }

  static async start(options: KafkaServerOptions): Promise<KafkaServer> {
    const tls = options.tls ?? null;
    if (tls === null) {
      const server = createServer();
      const kafka = new KafkaServer(server, options);
      server.on('connection', (socket) => kafka.accept(socket));
      await kafka.listenOrRelease(() => listen(server, 'Kafka (kafka.port)', options.host, options.port));
      return kafka;
    }
    const server = createTlsServer({ ...loadTlsFiles(tls), requestCert: tls.clientCertificates !== 'none', rejectUnauthorized: tls.clientCertificates === 'require' });
    const kafka = new KafkaServer(server, options);
    // 'connection' comes with the TCP socket, before the handshake: counted from there.
    server.on('connection', (socket: Socket) => kafka.handshake(socket));
    server.on('secureConnection', (socket: TLSSocket) => {
      kafka.handshaking.delete(peerOf(socket));
      kafka.accept(socket);
    });
    server.on('tlsClientError', (err, socket) => options.logger.debug({ err, remote: socket.remoteAddress }, 'Kafka TLS handshake failed'));
    await kafka.listenOrRelease(() => listen(server, 'Kafka over TLS (kafka.port, kafka.tls)', options.host, options.port));
    return kafka;
  }

  /** Listens; if that fails, the groups' timers and the server's own cursor store go with it. */
  private async listenOrRelease(listening: () => Promise<void>): Promise<void> {
    try {
      await listening();
    } catch (err) {
      this.groups.close();
      this.ownCursors?.close();
      throw err;
    }
  }

  /** The port listened on (the configured one, or the one the system chose for port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Open connections, those answering a request now (a long-poll Fetch waiting counts), and those refused for kafka.maxConnections. */
  get stats(): { connections: number; answering: number; refused: number } {
    let answering = 0;
    for (const connection of this.connections) if (connection.answering) answering++;
    return { connections: this.connections.size, answering, refused: this.refused };
  }

  /** Consumer groups: members and lag per committed partition (/metrics). */
  groupStats(): ReturnType<GroupCoordinator['stats']> {
    return this.groups.stats();
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => {
        this.ownCursors?.close();
        resolve();
      });
      this.groups.close();
      for (const connection of this.connections) connection.destroy();
      for (const socket of this.handshaking.values()) socket.destroy();
    });
    return this.closing;
  }

  /** A TCP connection to the TLS listener, before its handshake: refused when the count is full. */
  private handshake(socket: Socket): void {
    if (this.closing !== null || this.refuseIfFull(socket)) {
      socket.destroy();
      return;
    }
    // tls.Server hands over a new TLSSocket: the two are matched by the peer's address and port.
    const peer = peerOf(socket);
    this.handshaking.set(peer, socket);
    socket.once('close', () => {
      if (this.handshaking.get(peer) === socket) this.handshaking.delete(peer);
    });
  }

  private accept(socket: Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    if (this.options.tls == null && this.refuseIfFull(socket)) return;
    const connection = new KafkaConnection(socket, {
      maxRequestSize: this.options.maxRequestSize,
      apis: this.byKey,
      context: { log: this.options.log, apis: this.apis, broker: this.identity(socket), maxMessageBytes: this.options.maxMessageBytes, maxUncompressedBytes: this.options.maxUncompressedBytes, groups: this.groups, clientHost: (socket.remoteAddress ?? '').replace(/^::ffff:/, '') },
      security: this.options.security ?? OPEN,
      logger: this.options.logger,
      traffic: this.traffic,
    });
    this.connections.add(connection);
    connection.done.addEventListener('abort', () => this.connections.delete(connection), { once: true });
  }

  /** Closes `socket` when kafka.maxConnections are open (TLS handshakes under way count); true if it did. */
  private refuseIfFull(socket: Socket): boolean {
    if (this.connections.size + this.handshaking.size >= this.options.maxConnections) {
      socket.destroy();
      this.refused++;
      // One line per burst: the first refusal after the count was last below the limit.
      if (!this.full) this.options.logger.warn({ maxConnections: this.options.maxConnections, remote: socket.remoteAddress }, 'Kafka connection refused: kafka.maxConnections reached');
      this.full = true;
      return true;
    }
    this.full = false;
    return false;
  }

  private identity(socket: Socket): BrokerIdentity {
    const { host, advertisedHost, advertisedPort, clusterId, cluster } = this.options;
    let advertised = advertisedHost ?? host;
    if (advertisedHost === null && isWildcard(host)) advertised = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    const nodeId = cluster === undefined ? NODE_ID : brokerIds(cluster).get(cluster.selfId)!;
    return { nodeId, clusterId, host: advertised, port: advertisedPort ?? this.port, ...(cluster === undefined ? {} : { cluster }) };
  }
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
