// Replay into MQTT: republishes records on their original MQTT topic (the `mqtt.topic` header the
// front end stores) or, without one, on the log topic's name; a /prefix in the URL goes in front.
// Pacing: as fast as the broker acknowledges (max), a fixed rate, or the original inter-arrival
// times sped up k times. A chunk counts as delivered only once every publish of it was
// acknowledged (QoS 1/2) or written to the socket (QoS 0); only then may a reader position move.
// Over MQTT 5.0 a record's stored properties (mqtt.* headers) go out as the PUBLISH's properties.
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { ReplayTargetError } from './errors.js';
import type { LogRecord } from '../../broker/log/record-batch.js';
import type { MqttTarget, Pace } from './mqtt-target.js';
import { propertiesOf, type ReplayedProperties } from './mqtt-properties.js';
import { PartialDelivery } from './positions.js';

const IN_FLIGHT = 16;

export class MqttReplaySink {
  private sent = 0;
  private startedAt = 0;
  private firstTimestamp: number | null = null;
  /** Why the connection is gone; set on 'close' (with the 'error' before it, if any). */
  private lost: ReplayTargetError | null = null;
  private lastError: Error | null = null;
  /** Rejects when the connection closes: with reconnectPeriod 0, publishes in flight then never settle. */
  private readonly closed: Promise<never>;

  private constructor(
    private readonly client: MqttClient,
    private readonly target: MqttTarget,
    private readonly logTopic: string,
    private readonly qos: 0 | 1 | 2,
    private readonly pace: Pace,
  ) {
    // MQTT.js emits 'error' for a reset connection; without a listener that is a crash.
    client.on('error', (err) => (this.lastError = err));
    this.closed = new Promise<never>((_resolve, reject) => {
      client.once('close', () => {
        const why = this.lastError === null ? 'the broker closed the connection' : `connection lost (${this.lastError.message})`;
        this.lost = new ReplayTargetError(`publish to ${target.brokerUrl} failed: ${why}`, { cause: this.lastError ?? undefined });
        reject(this.lost);
      });
    });
    this.closed.catch(() => undefined); // observed through `lost` when no publish is waiting
  }

  static async connect(target: MqttTarget, logTopic: string, qos: 0 | 1 | 2, pace: Pace): Promise<MqttReplaySink> {
    try {
      const options = { reconnectPeriod: 0, connectTimeout: 10_000, clientId: `tributary-replay-${process.pid}-${Date.now().toString(36)}` };
      // MQTT 5.0, so that stored properties go out as properties (mqtt-properties.ts); a broker
      // that refuses 5.0 is asked again with 3.1.1, and gets the records without them.
      const client = await mqtt.connectAsync(target.brokerUrl, { ...options, protocolVersion: 5 }).catch(() => mqtt.connectAsync(target.brokerUrl, options));
      return new MqttReplaySink(client, target, logTopic, qos, pace);
    } catch (err) {
      throw new ReplayTargetError(`cannot connect to ${target.brokerUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Publishes the records in order, paced; resolves once all of them were acknowledged. At most
   * IN_FLIGHT publishes await their acknowledgement at once: brokers bound what they take in
   * flight from one client (mosquitto's max_inflight_messages is 20, MQTT 5's receive maximum),
   * and mosquitto 2.0 stalls delivery when a QoS 2 burst goes past it. On failure it throws a
   * PartialDelivery once every publish started has settled, naming how many leading records
   * were acknowledged: a reader position may cover those and no more.
   */
  async publish(records: readonly LogRecord[]): Promise<void> {
    // Each settles with null (acknowledged) or the error; none rejects, so none goes unhandled.
    const acks: Array<Promise<Error | null>> = [];
    let failure: Error | null = null;
    for (let i = 0; i < records.length && failure === null; i++) {
      const r = records[i]!;
      await this.wait(r.timestamp);
      if (i >= IN_FLIGHT) failure = await acks[i - IN_FLIGHT]!;
      failure ??= this.lost;
      if (failure !== null) break;
      acks.push(this.publishOne(this.topicOf(r), r.value ?? Buffer.alloc(0), this.v5 ? propertiesOf(r.headers) : undefined));
      this.sent++;
    }
    const results = await Promise.all(acks);
    const firstFailed = results.findIndex((e) => e !== null);
    failure ??= firstFailed < 0 ? null : results[firstFailed]!;
    if (failure !== null) throw new PartialDelivery(firstFailed < 0 ? acks.length : firstFailed, failure);
  }

  /** The connection speaks MQTT 5.0: records' properties go out with them. */
  private get v5(): boolean {
    return this.client.options.protocolVersion === 5;
  }

  private publishOne(topic: string, payload: Buffer, properties: ReplayedProperties | undefined): Promise<Error | null> {
    const options = properties === undefined ? { qos: this.qos } : { qos: this.qos, properties };
    return Promise.race([this.client.publishAsync(topic, payload, options), this.closed]).then(
      () => null,
      (err: Error) => (err instanceof ReplayTargetError ? err : new ReplayTargetError(`publish to ${this.target.brokerUrl} failed: ${err.message}`, { cause: err })),
    );
  }

  async close(): Promise<void> {
    // A lost connection leaves unacknowledged messages in MQTT.js's store: a graceful end would
    // wait for them for ever.
    await this.client.endAsync(this.lost !== null);
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
