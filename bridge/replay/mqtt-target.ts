// The --to-mqtt options of a replay, checked before anything connects: where to (broker URL and
// topic prefix), how fast, at which QoS. Kept apart from mqtt-sink.ts so that parsing them does
// not load the MQTT client.
import { UsageError } from '../../broker/errors.js';

export type Pace = { kind: 'max' } | { kind: 'rate'; perSecond: number } | { kind: 'speed'; factor: number };

export interface MqttTarget {
  /** mqtt://host:port (or mqtts://, ws://) without the prefix path. */
  brokerUrl: string;
  /** Topic prefix without slashes at either end; '' for none. */
  prefix: string;
}

/** Where a replay publishes: one broker, or a cluster's gateways tried in order. */
export interface MqttTargets {
  /** Each address as MqttTarget.brokerUrl, in the order given. */
  brokerUrls: readonly string[];
  /** The one topic prefix of them all. */
  prefix: string;
}

/**
 * `--to-mqtt a,b --to-mqtt c` -> [a, b, c]. The topic prefix is one for the replay: each address
 * carries the same one (or none); addresses whose prefixes differ are refused, since a record's
 * topic must not depend on which node happens to lead.
 */
export function parseMqttTargets(texts: readonly string[]): MqttTargets {
  const targets = texts.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '').map(parseMqttTarget);
  if (targets.length === 0) throw new UsageError('--to-mqtt is empty; use mqtt://host:port[/prefix]');
  const prefix = targets[0]!.prefix;
  const odd = targets.find((t) => t.prefix !== prefix);
  if (odd !== undefined) {
    throw new UsageError(`--to-mqtt: every address must carry the same topic prefix; ${targets[0]!.brokerUrl} has '${prefix}', ${odd.brokerUrl} has '${odd.prefix}'`);
  }
  return { brokerUrls: [...new Set(targets.map((t) => t.brokerUrl))], prefix };
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
