// The Kafka endpoint's listener: accepts connections and gives each a KafkaConnection. The node is
// one broker (id 0) leading every partition of the log, and the coordinator of every consumer
// group (./groups/). Plaintext only for now.
// TODO(next slice): TLS, SASL (PLAIN, SCRAM) against the MQTT users, ACLs per log topic, an
// idle timeout and per-address limits like MQTT's.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { CursorStore } from '../../broker/cursors.js';
import type { Log } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import { listen } from '../net/listen.js';
import type { ApiHandler, BrokerIdentity } from './apis/api.js';
import { APIS } from './apis/index.js';
import { KafkaConnection } from './connection.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { GroupOffsets } from './groups/offsets.js';

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
  /** Where consumer groups' committed offsets are kept; default: the log's cursors.db, opened and closed by the server. */
  cursors?: CursorStore;
  /** The APIs served; default all of ./apis/index.ts (tests narrow it). */
  apis?: readonly ApiHandler[];
}

const NODE_ID = 0;

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
  private full = false;

  private constructor(
    private readonly server: Server,
    private readonly options: KafkaServerOptions,
  ) {
    this.apis = options.apis ?? APIS;
    this.byKey = new Map(this.apis.map((api) => [api.key, api]));
    this.ownCursors = options.cursors === undefined ? CursorStore.open(options.log.dataDir) : null;
    const cursors = options.cursors ?? this.ownCursors!;
    this.groups = new GroupCoordinator(new GroupOffsets(cursors), options.log, options.logger.child({ part: 'groups' }));
  }

  static async start(options: KafkaServerOptions): Promise<KafkaServer> {
    const server = createServer();
    const kafka = new KafkaServer(server, options);
    server.on('connection', (socket) => kafka.accept(socket));
    try {
      await listen(server, 'Kafka (kafka.port)', options.host, options.port);
    } catch (err) {
      kafka.groups.close();
      kafka.ownCursors?.close();
      throw err;
    }
    return kafka;
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

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => {
        this.ownCursors?.close();
        resolve();
      });
      this.groups.close();
      for (const connection of this.connections) connection.destroy();
    });
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.options.maxConnections) {
      socket.destroy();
      this.refused++;
      // One line per burst: the first refusal after the count was last below the limit.
      if (!this.full) this.options.logger.warn({ maxConnections: this.options.maxConnections, remote: socket.remoteAddress }, 'Kafka connection refused: kafka.maxConnections reached');
      this.full = true;
      return;
    }
    this.full = false;
    const connection = new KafkaConnection(socket, {
      maxRequestSize: this.options.maxRequestSize,
      apis: this.byKey,
      context: { log: this.options.log, apis: this.apis, broker: this.identity(socket), groups: this.groups, clientHost: (socket.remoteAddress ?? '').replace(/^::ffff:/, '') },
      logger: this.options.logger,
    });
    this.connections.add(connection);
    connection.done.addEventListener('abort', () => this.connections.delete(connection), { once: true });
  }

  private identity(socket: Socket): BrokerIdentity {
    const { host, advertisedHost, advertisedPort, clusterId } = this.options;
    let advertised = advertisedHost ?? host;
    if (advertisedHost === null && isWildcard(host)) advertised = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    return { nodeId: NODE_ID, clusterId, host: advertised, port: advertisedPort ?? this.port };
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
