// The replication bench's peer: Debian's nats-server (2.9) as a three-node cluster on loopback,
// MQTT and JetStream enabled on every node, and a JetStream stream of 3 replicas (file storage)
// capturing the subjects the benchmark publishes to (MQTT topic `bench/x/data` is NATS subject
// `bench.x.data`). Without such a stream NATS acknowledges QoS 1 without storing it anywhere.
//
// startNatsCluster() starts the three processes, waits until JetStream has a meta leader (its API
// answers $JS.API.INFO instead of "temporarily unavailable"), creates the stream and waits until
// it has a leader and two current replicas; stop() ends them. JetStream's API is spoken over NATS's
// text protocol on a plain socket (a request is PUB with a reply subject; the answer is a MSG on
// it): a few lines, no client library.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, waitForPort } from './processes.js';

export interface NatsNode {
  name: string;
  clientPort: number;
  clusterPort: number;
  mqttPort: number;
  process: ChildProcess;
}

export interface NatsCluster {
  nodes: NatsNode[];
  stream: string;
  /** Which node leads the stream (the one that orders and replicates its writes). */
  streamLeader: string;
  /** Messages the stream holds now. */
  storedMessages(): Promise<number>;
  stop(): Promise<void>;
}

function natsBinary(): string {
  for (const candidate of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) if (existsSync(candidate)) return candidate;
  throw new Error("nats-server is not installed: apt-get install nats-server (Debian's package is the peer of bench:cluster)");
}

/** A connection speaking NATS's text protocol, enough for request/reply. */
export class NatsRequester {
  #buffer = Buffer.alloc(0);
  #next = 0;
  readonly #waiting = new Map<string, (payload: Buffer) => void>();
  readonly #inbox = `_INBOX.bench${process.pid}`;
  /** The server's last -ERR line (requests then time out). */
  lastError: string | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<NatsRequester> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new NatsRequester(socket);
    socket.write(`CONNECT {"verbose":false,"pedantic":false,"protocol":1,"name":"bench-cluster"}\r\nSUB ${client.#inbox}.* 1\r\n`);
    return client;
  }

  /** Publishes `body` (JSON) to `subject` and resolves with the JSON answer, or rejects after `timeoutMs`. */
  request(subject: string, body: unknown = {}, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const reply = `${this.#inbox}.${this.#next++}`;
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(reply);
        reject(new Error(`no answer to ${subject} within ${timeoutMs} ms${this.lastError === null ? '' : ` (${this.lastError})`}`));
      }, timeoutMs);
      this.#waiting.set(reply, (answer) => {
        clearTimeout(timer);
        resolve(JSON.parse(answer.toString()) as Record<string, unknown>);
      });
      this.socket.write(Buffer.concat([Buffer.from(`PUB ${subject} ${reply} ${payload.length}\r\n`), payload, Buffer.from('\r\n')]));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  // MSG <subject> <sid> [reply] <bytes>\r\n<payload>\r\n ; PING\r\n ; INFO {...}\r\n ; -ERR '...'\r\n
  #read(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const eol = this.#buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.#buffer.subarray(0, eol).toString();
      if (line.startsWith('MSG ')) {
        const parts = line.split(' ');
        const size = Number(parts[parts.length - 1]);
        if (this.#buffer.length < eol + 2 + size + 2) return;
        const payload = this.#buffer.subarray(eol + 2, eol + 2 + size);
        this.#buffer = this.#buffer.subarray(eol + 2 + size + 2);
        this.#waiting.get(parts[1]!)?.(Buffer.from(payload));
        this.#waiting.delete(parts[1]!);
        continue;
      }
      this.#buffer = this.#buffer.subarray(eol + 2);
      if (line === 'PING') this.socket.write('PONG\r\n');
      else if (line.startsWith('-ERR')) this.lastError = line;
    }
  }
}

/** Retries `attempt` until it returns a value (not undefined), for up to `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s${last === null ? '' : ` (last: ${(last as Error).message})`}`);
}

export async function startNatsCluster(dir: string, options: { subjects?: string[]; stream?: string } = {}): Promise<NatsCluster> {
  const names = ['nats-1', 'nats-2', 'nats-3'];
  const ports = await Promise.all(names.map(async () => ({ client: await freePort(), cluster: await freePort(), mqtt: await freePort() })));
  const nodes: NatsNode[] = names.map((name, i) => {
    const p = ports[i]!;
    const store = join(dir, name);
    mkdirSync(store, { recursive: true });
    const routes = ports.filter((_, j) => j !== i).map((o) => `nats-route://127.0.0.1:${o.cluster}`);
    const conf = join(dir, `${name}.conf`);
    // Every node stores to its own directory; JetStream syncs to disk on its default schedule
    // (2.9: sync_interval 2 min), as NATS ships. MQTT needs a server_name and JetStream.
    writeFileSync(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `jetstream { store_dir: "${store}" }`,
        `cluster { name: bench, listen: 127.0.0.1:${p.cluster}, routes: [${routes.join(', ')}] }`,
        `mqtt { listen: 127.0.0.1:${p.mqtt} }`,
        '',
      ].join('\n'),
    );
    const child = spawn(natsBinary(), ['-c', conf], { stdio: ['ignore', 'ignore', 'ignore'] });
    return { name, clientPort: p.client, clusterPort: p.cluster, mqttPort: p.mqtt, process: child };
  });
  const stop = async (): Promise<void> => {
    await Promise.all(
      nodes.map((n) => {
        if (n.process.exitCode !== null || n.process.signalCode !== null) return Promise.resolve();
        const exited = new Promise<void>((resolve) => n.process.once('close', () => resolve()));
        n.process.kill('SIGTERM');
        return exited;
      }),
    );
  };
  try {
    for (const n of nodes) await waitForPort(n.clientPort, n.process, n.name);
    for (const n of nodes) await waitForPort(n.mqttPort, n.process, `${n.name} (MQTT)`);
    const api = await NatsRequester.connect(nodes[0]!.clientPort);
    // JetStream's meta group has a leader once $JS.API.INFO answers without an error.
    await until('JetStream has a meta leader', 60_000, async () => ((await api.request('$JS.API.INFO')).error === undefined ? true : undefined));
    const stream = options.stream ?? 'BENCH';
    await until('the R3 stream is created', 30_000, async () => {
      const answer = await api.request(`$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: options.subjects ?? ['bench.>'], num_replicas: 3, storage: 'file', retention: 'limits', discard: 'old' });
      return answer.error === undefined ? true : undefined;
    });
    const streamLeader = await until('the stream has a leader and two current replicas', 30_000, async () => {
      const info = await api.request(`$JS.API.STREAM.INFO.${stream}`);
      const cluster = info.cluster as { leader?: string; replicas?: Array<{ current: boolean }> } | undefined;
      return cluster?.leader !== undefined && cluster.replicas?.length === 2 && cluster.replicas.every((r) => r.current) ? cluster.leader : undefined;
    });
    return {
      nodes,
      stream,
      streamLeader,
      storedMessages: async () => ((await api.request(`$JS.API.STREAM.INFO.${stream}`)).state as { messages: number }).messages,
      stop: async () => {
        api.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
