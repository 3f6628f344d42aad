// The high-rate load generator: QoS 1 PUBLISH packets encoded once and stamped with packet ids,
// written over plain TCP sockets in batches, PUBACKs read as fixed 4-byte frames. It spends its CPU
// on the broker under test, not on building packets, so a benchmark measures the broker.
// Depends on nothing of Tributary's: node built-ins and mqtt-packet only.
import { connect as tcpConnect, type Socket } from 'node:net';
import { createHistogram, performance } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';

export interface RawPublisherOptions {
  host: string;
  port: number;
  /**
   * Several gateways (a cluster): each socket tries them in turn, from the first, until one answers
   * CONNACK 0; a refused connection or a CONNACK 3 (a follower) moves it to the next. Once the run
   * has started, a closed connection still ends it (no resend: this generator measures, it does not
   * survive failovers). Unset: host and port.
   */
  addresses?: Array<{ host: string; port: number }>;
  connections: number;
  /** Size of an 'x'-filled payload, unless `payload` gives the bytes (of connection i) themselves. */
  payloadBytes: number;
  payload?: (connection: number) => Buffer;
  username?: string;
  password?: string;
  /** Aborting ends the run early, like reaching `durationMs`. */
  signal?: AbortSignal;
  /** Called every second while running with the totals so far (live figures). */
  onProgress?: (totals: { sent: number; acked: number }) => void;
  /** Unacknowledged messages allowed per connection. */
  window?: number;
  /** Stop after this long... */
  durationMs?: number;
  /** ...or after this many messages in total. */
  count?: number;
  /** Total messages per second across connections; unset = as fast as the broker acknowledges. */
  rate?: number;
  clientIdPrefix?: string;
  /** Topic of connection i (default `bench/<prefix>-<i>/data`). */
  topic?: (connection: number) => string;
  /** 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0: PUBLISHes without properties). */
  protocolVersion?: 4 | 5;
}

export interface RawPublisherResult {
  sent: number;
  acked: number;
  seconds: number;
  msgsPerSec: number;
  /** PUBACK latency, measured in rate mode only (as fast as possible measures queueing instead). */
  latency: { p50Ms: number; p99Ms: number } | null;
  /** The generator's own CPU time over the run, as a share of one core. */
  cpuShare: number;
}

export class BrokerRefusedError extends Error {}

const PUBACK = 0x40;
const CONNACK = 0x20;

/** One connection: its pre-encoded packet, its window of in-flight ids, its PUBACK reader. */
class Lane {
  readonly #template: Buffer;
  readonly #idAt: number;
  readonly #sentAt = new Float64Array(65_536);
  #nextId = 1;
  inFlight = 0;
  sent = 0;
  acked = 0;
  #pending: Buffer = Buffer.alloc(0);

  constructor(
    readonly socket: Socket,
    topic: string,
    payload: Buffer,
    private readonly onAck: (latencyMs: number) => void,
    protocolVersion: 4 | 5 = 4,
  ) {
    // Encoded with id 1, then the id bytes are overwritten per message: they sit right after the
    // topic, i.e. at the end of the packet minus the payload (and, in MQTT 5.0, minus the one-byte
    // Property Length 0 between them).
    this.#template = mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 1, messageId: 1, dup: false, retain: false }, { protocolVersion });
    this.#idAt = this.#template.length - payload.length - 2 - (protocolVersion === 5 ? 1 : 0);
  }

  /** Writes `n` messages in one syscall. */
  send(n: number): void {
    if (n <= 0) return;
    const size = this.#template.length;
    const batch = Buffer.allocUnsafe(size * n);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      this.#template.copy(batch, i * size);
      const id = this.#nextId;
      this.#nextId = id === 65_535 ? 1 : id + 1;
      batch.writeUInt16BE(id, i * size + this.#idAt);
      this.#sentAt[id] = now;
    }
    this.inFlight += n;
    this.sent += n;
    this.socket.write(batch);
  }

  /**
   * Consumes PUBACK frames (0x40 0x02 id id; in MQTT 5.0 also with a reason code and properties,
   * counted when the code is a success); anything else from the broker is skipped whole.
   */
  read(chunk: Buffer): void {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let at = 0;
    const now = performance.now();
    while (data.length - at >= 2) {
      const length = data[at + 1]!;
      if (data.length - at < 2 + length) break;
      if (data[at]! >> 4 === PUBACK >> 4 && length >= 2 && (length === 2 || data[at + 4]! < 0x80)) {
        const id = data.readUInt16BE(at + 2);
        this.inFlight--;
        this.acked++;
        this.onAck(now - this.#sentAt[id]!);
      }
      at += 2 + length;
    }
    this.#pending = at === data.length ? Buffer.alloc(0) : data.subarray(at);
  }
}

/** A socket that took our CONNECT (CONNACK 0), with what came after the CONNACK. */
async function connectOne(host: string, port: number, clientId: string, options: RawPublisherOptions): Promise<{ socket: Socket; rest: Buffer }> {
  const socket = tcpConnect(port, host);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (err) => reject(new Error(`cannot reach the broker at ${host}:${port}: ${err.message}`)));
  });
  const credentials = {
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: Buffer.from(options.password) }),
  };
  const protocolVersion = options.protocolVersion ?? 4;
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId, clean: true, keepalive: 300, ...credentials }, { protocolVersion }));
  // CONNACK is 4 bytes in 3.1.1 (more in 5.0: its properties, here under 128 bytes), which may
  // arrive in more than one segment.
  const connack = await new Promise<Buffer>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received[1]!) return;
      socket.off('data', onData);
      resolve(received);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new BrokerRefusedError(`the broker at ${host}:${port} closed ${clientId}'s connection before CONNACK`)));
  });
  if (connack[0] !== CONNACK || connack[3] !== 0) {
    socket.destroy();
    throw new BrokerRefusedError(`the broker at ${host}:${port} refused ${clientId}: CONNACK return code ${connack[3]}`);
  }
  return { socket, rest: connack.subarray(2 + connack[1]!) };
}

async function openLane(options: RawPublisherOptions, i: number, payload: (connection: number) => Buffer, onAck: (ms: number) => void, afterRead: (lane: Lane) => void): Promise<Lane> {
  const clientId = `${options.clientIdPrefix ?? 'rawpub'}-${i}`;
  const addresses = options.addresses ?? [{ host: options.host, port: options.port }];
  let connected: { socket: Socket; rest: Buffer } | null = null;
  const failures: Error[] = [];
  for (const { host, port } of addresses) {
    try {
      connected = await connectOne(host, port, clientId, options);
      break;
    } catch (err) {
      failures.push(err as Error);
    }
  }
  if (connected === null) {
    if (failures.length === 1) throw failures[0]!;
    const refused = failures.some((f) => f instanceof BrokerRefusedError);
    const message = `no broker of the ${addresses.length} given took ${clientId}: ${failures.map((f) => f.message).join('; ')}`;
    throw refused ? new BrokerRefusedError(message) : new Error(`cannot reach the broker: ${message}`);
  }
  const { socket, rest } = connected;
  const topic = options.topic?.(i) ?? `bench/${clientId}/data`;
  const lane = new Lane(socket, topic, payload(i), onAck, options.protocolVersion);
  if (rest.length > 0) lane.read(rest);
  socket.on('data', (chunk: Buffer) => {
    lane.read(chunk);
    afterRead(lane);
  });
  socket.on('error', () => undefined);
  return lane;
}

export async function runRawPublisher(options: RawPublisherOptions): Promise<RawPublisherResult> {
  const window = options.window ?? 100;
  const filler = Buffer.alloc(options.payloadBytes, 'x');
  const payload = options.payload ?? (() => filler);
  const histogram = createHistogram();
  const measure = options.rate !== undefined;
  const onAck = measure ? (ms: number) => histogram.record(Math.max(1, Math.round(ms * 1000))) : () => undefined;
  let running = false;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const total = (key: 'sent' | 'acked'): number => lanes.reduce((sum, lane) => sum + lane[key], 0);
  let sentTotal = 0;
  const send = (lane: Lane, n: number): void => {
    const allowed = Math.min(n, options.count === undefined ? n : options.count - sentTotal);
    if (allowed <= 0) return;
    lane.send(allowed);
    sentTotal += allowed;
    if (options.count !== undefined && sentTotal >= options.count) stop();
  };
  // As fast as possible: every PUBACK read refills that connection's window at once.
  const refill = (lane: Lane): void => {
    if (running && options.rate === undefined) send(lane, window - lane.inFlight);
  };
  const lanes = await Promise.all(Array.from({ length: options.connections }, (_, i) => openLane(options, i, payload, onAck, refill)));
  const closed = lanes.map((lane) => new Promise<void>((resolve) => lane.socket.once('close', () => resolve())));
  let brokerClosed = false;
  void Promise.race(closed).then(() => {
    brokerClosed = true;
    stop();
  });

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  running = true;
  const timer = options.durationMs === undefined ? undefined : setTimeout(stop, options.durationMs);
  if (options.onProgress !== undefined) {
    const report = options.onProgress;
    const progress = setInterval(() => report({ sent: total('sent'), acked: total('acked') }), 1000);
    void stopped.then(() => clearInterval(progress));
  }
  if (options.signal?.aborted === true) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.rate === undefined) {
    for (const lane of lanes) refill(lane);
  } else {
    // Fixed rate: every millisecond, each connection sends what its share of the rate is due.
    const rate = options.rate;
    const ticker = setInterval(() => {
      const due = (((performance.now() - started) / 1000) * rate) / lanes.length;
      for (const lane of lanes) send(lane, Math.min(window - lane.inFlight, Math.floor(due) - lane.sent));
    }, 1);
    void stopped.then(() => clearInterval(ticker));
  }
  await stopped;
  running = false;
  clearTimeout(timer);
  // Wait for what is in flight (bounded: the broker may have stopped answering).
  const drainUntil = performance.now() + 10_000;
  if (brokerClosed) throw new BrokerRefusedError('the broker closed a connection during the run');
  while (total('acked') < total('sent') && performance.now() < drainUntil && !brokerClosed) await new Promise((resolve) => setTimeout(resolve, 1));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  for (const lane of lanes) lane.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
  await Promise.all(closed);
  const acked = total('acked');
  return {
    sent: total('sent'),
    acked,
    seconds,
    msgsPerSec: acked / seconds,
    latency: measure && histogram.count > 0 ? { p50Ms: histogram.percentile(50) / 1000, p99Ms: histogram.percentile(99) / 1000 } : null,
    cpuShare: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}
