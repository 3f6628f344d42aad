// The witness's HTTP listener (`tributary witness`, docs/replication.md): GET /healthz, GET
// /api/cluster (its status as JSON) and GET /metrics (Prometheus text). It serves no records:
// a witness holds none.
import { createServer, type Server } from 'node:http';
import { listen } from '../net/listen.js';

/** What the witness reports (bridge/cluster/witness.ts builds it; a structural type: HTTP imports no part). */
export interface WitnessStatus {
  epoch: number;
  leaderId: string | null;
  last: { seq: number };
  commitSeq: number;
  truncations: number;
}

function metricsText(s: WitnessStatus): string {
  const lines = [
    ['tributary_cluster_role', 'gauge', '1 for this node\'s replication role', '{role="witness"}', 1],
    ['tributary_cluster_epoch', 'gauge', 'The replication epoch this node is in', '', s.epoch],
    ['tributary_cluster_last_position', 'gauge', 'The position of the last entry header this witness holds, fsynced', '', s.last.seq],
    ['tributary_cluster_commit_position', 'gauge', 'The replication-log position committed as this witness knows it', '', s.commitSeq],
    ['tributary_cluster_truncations_total', 'counter', 'Times this witness truncated a header tail that diverged from its leader\'s log', '', s.truncations],
    ['tributary_cluster_leader_known', 'gauge', '1 while this witness follows a leader', '', s.leaderId === null ? 0 : 1],
  ] as const;
  return lines.map(([name, type, help, labels, value]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${labels} ${value}\n`).join('');
}

export class WitnessHttpServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(options: { host: string; port: number; status: () => WitnessStatus }): Promise<WitnessHttpServer> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://witness').pathname;
      const send = (status: number, type: string, body: string): void => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (req.method !== 'GET') return send(405, 'application/json', JSON.stringify({ error: 'only GET' }));
      if (path === '/healthz') return send(200, 'application/json', JSON.stringify({ status: 'ok' }));
      if (path === '/api/cluster') return send(200, 'application/json', JSON.stringify(options.status()));
      if (path === '/metrics') return send(200, 'text/plain; version=0.0.4', metricsText(options.status()));
      return send(404, 'application/json', JSON.stringify({ error: `no ${path} on a witness (it serves /healthz, /metrics, /api/cluster)` }));
    });
    await listen(server, 'the witness HTTP API (http.port)', options.host, options.port);
    return new WitnessHttpServer(server, (server.address() as { port: number }).port);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
