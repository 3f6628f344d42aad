// Replay into MQTT: republishes records on their original MQTT topic (the `mqtt.topic` header the
// front end stores) or, without one, on the log topic's name; a /prefix in the URL goes in front.
// Pacing: as fast as the broker acknowledges (max), a fixed rate, or the original inter-arrival
// times sped up k times. A chunk counts as delivered only once every publish of it was
// acknowledged (QoS 1/2) or written to the socket (QoS 0); only then may a reader position move.
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { ReplayTargetError, UsageError } from '../../broker/errors.js';
import type { LogRecord } from '../../broker/log/record-batch.js';

export type Pace = { kind: 'max' } | { kind: 'rate'; perSecond: number } | { kind: 'speed'; factor: number };

export interface MqttTarget {
  /** mqtt://host:port (or mqtts://, ws://) without the prefix path. */
  brokerUrl: string;
  /** Topic prefix without slashes at either end; '' for none. */
  prefix: string;
}

/** Splits `mqtt://host:port/some/prefix` into the broker URL and the prefix. */
export function parseMqttTarget(text: string): MqttTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--to-mqtt: '${text}' is not a URL; use mqtt://host:port[/prefix]`);
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new UsageError(`--to-mqtt: '${url.protocol}' is not an MQTT URL scheme; use mqtt://host:port[/prefix]`);
  }
  const ws = url.protocol === 'ws:' || url.protocol === 'wss:';
  const prefix = ws ? '' : decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (/[#+]/.test(prefix)) throw new UsageError(`--to-mqtt: the topic prefix '${prefix}' cannot hold the wildcards + or #`);
  const brokerUrl = ws ? url.toString() : `${url.protocol}//${url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''}${url.host}`;
  return { brokerUrl, prefix };
}

export function parsePace(rate: string | undefined, speed: string | undefined): Pace {
  if (rate !== undefined && speed !== undefined) throw new UsageError('give --rate or --speed, not both');
  if (rate !== undefined) {
    const perSecond = Number(rate);
    if (!Number.isFinite(perSecond) || perSecond <= 0) throw new UsageError(`--rate must be a positive number of messages per second, got '${rate}'`);
    return { kind: 'rate', perSecond };
  }
  if (speed === undefined || speed === 'max') return { kind: 'max' };
  const m = /^(\d+(?:\.\d+)?)x$/.exec(speed);
  if (m === null || Number(m[1]) <= 0) throw new UsageError(`--speed must be like 1x, 10x, 0.5x or max, got '${speed}'`);
  return { kind: 'speed', factor: Number(m[1]) };
}

export function parseQos(text: string | undefined): 0 | 1 | 2 {
  if (text === undefined) return 1;
  if (text === '0' || text === '1' || text === '2') return Number(text) as 0 | 1 | 2;
  throw new UsageError(`--qos must be 0, 1 or 2, got '${text}'`);
}

const IN_FLIGHT = 16;

export class MqttReplaySink {
  private sent = 0;
  private startedAt = 0;
  private firstTimestamp: number | null = null;

  private constructor(
    private readonly client: MqttClient,
    private readonly target: MqttTarget,
    private readonly logTopic: string,
    private readonly qos: 0 | 1 | 2,
    private readonly pace: Pace,
  ) {}

  static async connect(target: MqttTarget, logTopic: string, qos: 0 | 1 | 2, pace: Pace): Promise<MqttReplaySink> {
    try {
      const client = await mqtt.connectAsync(target.brokerUrl, { reconnectPeriod: 0, connectTimeout: 10_000, clientId: `tributary-replay-${process.pid}-${Date.now().toString(36)}` });
      return new MqttReplaySink(client, target, logTopic, qos, pace);
    } catch (err) {
      throw new ReplayTargetError(`cannot connect to ${target.brokerUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Publishes the records in order, paced; resolves once all of them were acknowledged. At most
   * IN_FLIGHT publishes await their acknowledgement at once: brokers bound what they take in
   * flight from one client (mosquitto's max_inflight_messages is 20, MQTT 5's receive maximum),
   * and mosquitto 2.0 stalls delivery when a QoS 2 burst goes past it.
   */
  async publish(records: readonly LogRecord[]): Promise<void> {
    const acks: Array<Promise<unknown>> = [];
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      await this.wait(r.timestamp);
      if (i >= IN_FLIGHT) await acks[i - IN_FLIGHT];
      acks.push(
        this.client.publishAsync(this.topicOf(r), r.value ?? Buffer.alloc(0), { qos: this.qos }).catch((err: Error) => {
          throw new ReplayTargetError(`publish to ${this.target.brokerUrl} failed: ${err.message}`, { cause: err });
        }),
      );
      this.sent++;
    }
    await Promise.all(acks);
  }

  async close(): Promise<void> {
    await this.client.endAsync();
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
