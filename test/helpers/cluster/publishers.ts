// Publishers for the fault tests (issue 17): MQTT.js clients that know every node's address, each
// sending numbered messages one at a time (so their sending order is the order they were
// acknowledged in) and writing the history the checker reads. A publisher tries the addresses in
// turn: a refused connection, a CONNACK 3 (a follower) or a connection that ends moves it to the
// next one, and the message it had in flight is sent again there (a new packet on a new clean
// session: across a failover QoS 2 state does not travel, so a resent QoS 2 message can be stored
// twice; the attempts say on which nodes it was sent). Right after each CONNACK the publisher asks
// the node which epoch it leads (when the target says how): the epoch checker's account of which
// epoch each acknowledgement belongs to (epoch-checker.ts).
import mqtt, { type MqttClient } from 'mqtt';
import type { Operation } from './checker.js';
import type { Acknowledgement } from './epoch-checker.js';

/** One sending of a message, and what became of it. */
export interface Attempt {
  node: string;
  sentAt: number;
  /** When the PUBACK (QoS 1) or PUBCOMP (QoS 2) came; null: never on this attempt. */
  ackedAt: number | null;
  /** The epoch the node said it led right after CONNACK; null when it did not say (or was not asked). */
  epochAtConnect: number | null;
}

export interface Sent extends Operation {
  attempts: Attempt[];
}

export interface Target {
  node: string;
  url: string;
  /** The epoch the node leads now, or null when it does not lead or does not answer. */
  leaderEpoch?: () => Promise<number | null>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The message id a stored value carries (`publisher/seq`), or null for other records. */
export function idOf(value: Buffer): string | null {
  try {
    const body = JSON.parse(value.toString()) as { p?: string; s?: number };
    return typeof body.p === 'string' && typeof body.s === 'number' ? `${body.p}/${body.s}` : null;
  } catch {
    return null;
  }
}

function connectOnce(url: string, clientId: string): Promise<MqttClient> {
  // keepalive 2 s: a paused or cut-off node's connection is given up after about 3 s of silence.
  const client = mqtt.connect(url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 2000, keepalive: 2 });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** Resolves on PUBACK/PUBCOMP; rejects when the connection ends first (its callback never comes then). */
function publishOnce(client: MqttClient, topic: string, payload: string, qos: 1 | 2): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = (): void => reject(new Error('connection closed'));
    client.once('close', closed);
    client.publish(topic, payload, { qos }, (err) => {
      client.removeListener('close', closed);
      if (err == null) resolve();
      else reject(err);
    });
  });
}

export class Publisher {
  #stopped = false;
  #done: Promise<void> = Promise.resolve();
  #next = 0;
  #client: MqttClient | null = null;
  readonly sent: Sent[] = [];

  constructor(
    readonly name: string,
    readonly qos: 1 | 2,
    private readonly targets: readonly Target[],
  ) {}

  get acked(): number {
    return this.sent.filter((op) => op.acked).length;
  }

  start(): void {
    this.#done = this.run();
  }

  /** Stops after the message in flight (or at once when none is acknowledged on this connection). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#client?.end(true);
    await this.#done;
  }

  private async run(): Promise<void> {
    let turn = this.targets.length === 0 ? 0 : this.name.length % this.targets.length;
    let pending: Sent | null = null;
    let failedInRound = 0;
    while (!this.#stopped) {
      const target = this.targets[turn++ % this.targets.length]!;
      let client: MqttClient;
      try {
        client = await connectOnce(target.url, `${this.name}-${turn}`);
      } catch {
        if (++failedInRound >= this.targets.length) {
          failedInRound = 0;
          await sleep(200);
        }
        continue;
      }
      failedInRound = 0;
      this.#client = client;
      const epochAtConnect = (await target.leaderEpoch?.()) ?? null;
      try {
        while (!this.#stopped) {
          const seq = pending?.seq ?? this.#next++;
          const op: Sent = pending ?? { publisher: this.name, id: `${this.name}/${seq}`, seq, qos: this.qos, sentAt: 0, acked: false, node: target.node, attempts: [] };
          if (pending === null) this.sent.push(op);
          pending = op;
          const attempt: Attempt = { node: target.node, sentAt: Date.now(), ackedAt: null, epochAtConnect };
          op.attempts.push(attempt);
          op.node = target.node;
          op.sentAt = attempt.sentAt;
          await publishOnce(client, `faults/${this.name}`, JSON.stringify({ p: this.name, s: seq }), this.qos);
          attempt.ackedAt = Date.now();
          op.acked = true;
          pending = null;
        }
      } catch {
        // The connection ended: the next address, the message in flight again.
      } finally {
        this.#client = null;
        client.end(true);
      }
    }
  }
}

/** The acknowledged messages of `history`: which node acknowledged each, in which epoch it said it led. */
export function acknowledgements(history: readonly Sent[]): Acknowledgement[] {
  return history.flatMap((op) => op.attempts.filter((a) => a.ackedAt !== null).map((a) => ({ id: op.id, node: a.node, epochAtConnect: a.epochAtConnect })));
}

/** Waits (bounded by `rounds` polls) until the publishers together have `more` acknowledgements beyond now. */
export async function progress(publishers: readonly Publisher[], more: number, rounds = 1200): Promise<void> {
  const total = (): number => publishers.reduce((n, p) => n + p.acked, 0);
  const goal = total() + more;
  for (let i = 0; i < rounds && total() < goal; i++) await sleep(50);
  if (total() < goal) throw new Error(`publishers made no progress: ${total()} acknowledged, waited for ${goal}`);
}
