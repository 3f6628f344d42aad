// Replay into MQTT: republishes records on their original MQTT topic (the `mqtt.topic` header the
// front end stores) or, without one, on the log topic's name; a /prefix in the URL goes in front.
// Pacing: as fast as the broker acknowledges (max), a fixed rate, or the original inter-arrival
// times sped up k times. A chunk counts as delivered only once every publish of it was
// acknowledged (QoS 1/2) or written to the socket (QoS 0); only then may a reader position move.
// Over MQTT 5.0 a record's stored properties (mqtt.* headers) go out as the PUBLISH's properties.
//
// Several addresses (a cluster's gateways, mqtt-connect.ts): when the connection is lost, the sink
// connects to the next address that accepts (a follower sends it to the leader) and publishes
// again, in order, every record of the run not yet acknowledged: nothing is lost, and at QoS 1 a
// record whose PUBACK was lost with the connection may be stored twice, which MQTT allows
// ([MQTT-4.3.2]: at least once). These resends are counted. With one address a lost connection
// ends the replay, as before.
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { ReplayTargetError } from './errors.js';
import type { LogRecord } from '../../broker/log/record-batch.js';
import { connectToOne } from './mqtt-connect.js';
import type { MqttTargets, Pace } from './mqtt-target.js';
import { propertiesOf, type ReplayedProperties } from './mqtt-properties.js';
import { PartialDelivery } from './positions.js';

const IN_FLIGHT = 16;
/**
 * Passes over the address list after a lost connection before the replay gives up: with the
 * simulator's waits (1 s, 2 s, 4 s, 8 s after each failed round) about 15 s, several election
 * timeouts of a cluster (cluster.electionTimeoutMs, 1.5 s by default).
 */
const ROUNDS_AFTER_LOSS = 5;

/** One connection to one broker, and why it is gone once it is. */
class Connection {
  lost: ReplayTargetError | null = null;
  private lastError: Error | null = null;
  /** Rejects when the connection closes: with reconnectPeriod 0, publishes in flight then never settle. */
  readonly closed: Promise<never>;

  constructor(
    readonly client: MqttClient,
    readonly url: string,
  ) {
    // MQTT.js emits 'error' for a reset connection; without a listener that is a crash.
    client.on('error', (err) => (this.lastError = err));
    this.closed = new Promise<never>((_resolve, reject) => {
      client.once('close', () => {
        const why = this.lastError === null ? 'the broker closed the connection' : `connection lost (${this.lastError.message})`;
        this.lost = new ReplayTargetError(`publish to ${url} failed: ${why}`, { cause: this.lastError ?? undefined });
        reject(this.lost);
      });
    });
    this.closed.catch(() => undefined); // observed through `lost` when no publish is waiting
  }
}

/** What one pass of publish() came to, as indexes into its records. */
interface RunResult {
  /** Records [0, acknowledged) are acknowledged. */
  acknowledged: number;
  /** Records [0, started) were published at least once. */
  started: number;
  failure: Error | null;
}

export class MqttReplaySink {
  private sent = 0;
  private startedAt = 0;
  private firstTimestamp: number | null = null;
  /** Publishes sent again on a new connection after the one they went out on was lost. */
  resent = 0;
  /** Connections that replaced a lost one. */
  moves = 0;
  /** Moves since a publish was last acknowledged: a broker that takes connections and drops each must not keep the replay going round. */
  private movesWithoutAck = 0;

  private constructor(
    private connection: Connection,
    private readonly target: MqttTargets,
    private readonly logTopic: string,
    private readonly qos: 0 | 1 | 2,
    private readonly pace: Pace,
    private readonly clientId: string,
    /** Told each time the sink moves to another address. */
    private readonly onMove: (from: string, to: string, why: string) => void,
  ) {}

  static async connect(target: MqttTargets, logTopic: string, qos: 0 | 1 | 2, pace: Pace, onMove: (from: string, to: string, why: string) => void = () => undefined): Promise<MqttReplaySink> {
    const clientId = `tributary-replay-${process.pid}-${Date.now().toString(36)}`;
    const { client, url } = await connectToOne(target.brokerUrls, 0, 1, clientId);
    return new MqttReplaySink(new Connection(client, url), target, logTopic, qos, pace, clientId, onMove);
  }

  /**
   * Publishes the records in order, paced; resolves once all of them were acknowledged. At most
   * IN_FLIGHT publishes await their acknowledgement at once: brokers bound what they take in
   * flight from one client (mosquitto's max_inflight_messages is 20, MQTT 5's receive maximum),
   * and mosquitto 2.0 stalls delivery when a QoS 2 burst goes past it. A lost connection with
   * another address to go to: the records from the first unacknowledged one are published again
   * there. On failure it throws a PartialDelivery once every publish started has settled, naming
   * how many leading records were acknowledged: a reader position may cover those and no more.
   */
  async publish(records: readonly LogRecord[]): Promise<void> {
    let from = 0;
    for (;;) {
      if (this.connection.lost !== null) await this.moveOn(from);
      const run = await this.publishFrom(records, from);
      if (run.acknowledged > from) this.movesWithoutAck = 0;
      if (run.failure === null) return;
      // A publish refused on a live connection (an MQTT 5.0 PUBACK reason code) is not a failover.
      if (this.connection.lost === null || this.target.brokerUrls.length < 2) throw new PartialDelivery(run.acknowledged, run.failure);
      this.resent += run.started - run.acknowledged;
      from = run.acknowledged;
    }
  }

  private async publishFrom(records: readonly LogRecord[], from: number): Promise<RunResult> {
    const connection = this.connection;
    // Each settles with null (acknowledged) or the error; none rejects, so none goes unhandled.
    const acks: Array<Promise<Error | null>> = [];
    let failure: Error | null = null;
    for (let i = from; i < records.length && failure === null; i++) {
      const r = records[i]!;
      await this.wait(r.timestamp);
      if (acks.length >= IN_FLIGHT) failure = await acks[acks.length - IN_FLIGHT]!;
      failure ??= connection.lost;
      if (failure !== null) break;
      acks.push(this.publishOne(connection, this.topicOf(r), r.value ?? Buffer.alloc(0), this.v5 ? propertiesOf(r.headers) : undefined));
      this.sent++;
    }
    const results = await Promise.all(acks);
    const firstFailed = results.findIndex((e) => e !== null);
    failure ??= firstFailed < 0 ? null : results[firstFailed]!;
    return { acknowledged: from + (firstFailed < 0 ? acks.length : firstFailed), started: from + acks.length, failure };
  }

  /** The connection is lost: on to the next address that accepts, or a PartialDelivery of `delivered`. */
  private async moveOn(delivered: number): Promise<void> {
    const old = this.connection;
    const lost = old.lost!;
    if (this.target.brokerUrls.length < 2) throw new PartialDelivery(delivered, lost);
    if (this.movesWithoutAck >= ROUNDS_AFTER_LOSS * this.target.brokerUrls.length) {
      throw new PartialDelivery(delivered, new ReplayTargetError(`${lost.detail}; ${this.movesWithoutAck} connections in a row were lost before a publish was acknowledged`, { cause: lost }));
    }
    // Unacknowledged messages stay in MQTT.js's store: a graceful end would wait for them for ever.
    await old.client.endAsync(true);
    const next = (this.target.brokerUrls.indexOf(old.url) + 1) % this.target.brokerUrls.length;
    try {
      const { client, url } = await connectToOne(this.target.brokerUrls, next, ROUNDS_AFTER_LOSS, this.clientId);
      this.connection = new Connection(client, url);
    } catch (err) {
      const why = err instanceof ReplayTargetError ? err.detail : (err as Error).message;
      throw new PartialDelivery(delivered, new ReplayTargetError(`${lost.detail}; then ${why}`, { cause: err }));
    }
    this.moves++;
    this.movesWithoutAck++;
    this.onMove(old.url, this.connection.url, lost.detail);
  }

  /** The connection speaks MQTT 5.0: records' properties go out with them. */
  private get v5(): boolean {
    return this.connection.client.options.protocolVersion === 5;
  }

  private publishOne(connection: Connection, topic: string, payload: Buffer, properties: ReplayedProperties | undefined): Promise<Error | null> {
    const options = properties === undefined ? { qos: this.qos } : { qos: this.qos, properties };
    return Promise.race([connection.client.publishAsync(topic, payload, options), connection.closed]).then(
      () => null,
      (err: Error) => (err instanceof ReplayTargetError ? err : new ReplayTargetError(`publish to ${connection.url} failed: ${err.message}`, { cause: err })),
    );
  }

  async close(): Promise<void> {
    // A lost connection leaves unacknowledged messages in MQTT.js's store: a graceful end would
    // wait for them for ever.
    await this.connection.client.endAsync(this.connection.lost !== null);
  }

  private topicOf(r: LogRecord): string {
    const header = r.headers.find(([name]) => name === 'mqtt.topic')?.[1];
    const original = header != null ? header.toString('utf8') : this.logTopic;
    return this.target.prefix === '' ? original : `${this.target.prefix}/${original}`;
  }

  /** Sleeps until the record is due under the pace. */
  private async wait(timestamp: number): Promise<void> {
    if (this.pace.kind === 'max') return;
    if (this.startedAt === 0) this.startedAt = Date.now();
    let due: number;
    if (this.pace.kind === 'rate') {
      due = this.startedAt + (this.sent * 1000) / this.pace.perSecond;
    } else {
      this.firstTimestamp ??= timestamp;
      due = this.startedAt + Math.max(0, timestamp - this.firstTimestamp) / this.pace.factor;
    }
    const delay = due - Date.now();
    if (delay >= 1) await sleep(delay);
  }
}
