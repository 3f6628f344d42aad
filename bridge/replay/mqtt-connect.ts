// One job: find, among the --to-mqtt addresses (a cluster's gateways), a broker that takes the
// replay's connection. The addresses are tried in order from a starting one; a refused connection,
// an unreachable address or a CONNACK refusal moves on to the next. A cluster's follower answers
// MQTT 3.1.1 with return code 3 (server unavailable, [MQTT-3.2.2-6]: it then closes the
// connection) and MQTT 5.0 with 0x9C (Use another server) or 0x9D (Server moved) and the leader's
// address as Server Reference (MQTT 5.0 section 4.11): that address is tried next, whether it is
// one of the list or a host:port of its own. Between addresses and after a whole round that failed
// the waits are the simulator's (device-sim/failover.ts); after `rounds` rounds it gives up with
// one error naming every address and why it failed.
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { IConnackPacket } from 'mqtt-packet';
import { retryDelayMs } from '../../device-sim/failover.js';
import { ReplayTargetError } from './errors.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** MQTT 5.0 CONNACK reason codes that carry a Server Reference to follow (section 3.2.2.2). */
const USE_ANOTHER_SERVER = 0x9c;
const SERVER_MOVED = 0x9d;
/** MQTT 5.0 0x84 (Unsupported Protocol Version); a 3.1.1 broker answers a 5.0 CONNECT with return code 1. */
const UNSUPPORTED_VERSION = [0x84, 1];

export interface Connected {
  client: MqttClient;
  /** The address that took it (a Server Reference's when one was followed). */
  url: string;
}

/** What one attempt came to: a client, or why not (and where the broker sent us, if it did). */
type Attempt = { client: MqttClient } | { why: string; connack: number | null; reference: string | null };

/**
 * Connects to the first of `urls`, starting at index `start`, that accepts; `rounds` passes over
 * the list at most. Throws a ReplayTargetError naming each address and its last failure.
 */
export async function connectToOne(urls: readonly string[], start: number, rounds: number, clientId: string): Promise<Connected> {
  const failures = new Map<string, string>();
  let attempts = 0;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < urls.length; k++) {
      if (attempts > 0) await sleep(retryDelayMs(attempts, urls.length));
      let url = urls[(start + k) % urls.length]!;
      // A redirect is followed at once, once per address tried: a referenced node that redirects
      // again (a leadership change under way) leaves the rest to the round.
      for (let redirects = 0; ; redirects++) {
        const attempt = await connectBothVersions(url, clientId);
        if ('client' in attempt) return { client: attempt.client, url };
        failures.set(url, attempt.why);
        const next = attempt.reference === null ? null : referencedUrl(attempt.reference, url, urls);
        if (next === null || redirects > 0 || next === url) break;
        url = next;
      }
      attempts++;
    }
  }
  if (urls.length === 1 && failures.size === 1) throw new ReplayTargetError(`cannot connect to ${urls[0]}: ${failures.get(urls[0]!)}`);
  const each = [...failures].map(([url, why]) => `${url} (${why})`).join('; ');
  throw new ReplayTargetError(`no address took the connection: ${each}`);
}

/** MQTT 5.0, so that stored properties go out as properties (mqtt-properties.ts); a broker that refuses 5.0 is asked again with 3.1.1. */
async function connectBothVersions(url: string, clientId: string): Promise<Attempt> {
  const v5 = await connectOnce(url, clientId, 5);
  if ('client' in v5 || (v5.connack !== null && !UNSUPPORTED_VERSION.includes(v5.connack))) return v5;
  const v4 = await connectOnce(url, clientId, 4);
  // The 5.0 answer says more when it was a refusal (a reason code, a reference).
  return 'client' in v4 || v5.connack === null ? v4 : v5;
}

function connectOnce(url: string, clientId: string, protocolVersion: 4 | 5): Promise<Attempt> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: CONNECT_TIMEOUT_MS, clientId, protocolVersion });
  return new Promise((resolve) => {
    let connack: IConnackPacket | null = null;
    let lastError: Error | null = null;
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'connack') return;
      connack = packet as IConnackPacket;
      // [MQTT-3.2.2-5]/[MQTT-3.2.2-7] the server closes after a refusal; a client that waited for it would hang on one that does not.
      if ((connack.reasonCode ?? connack.returnCode ?? 0) !== 0) client.end(true);
    });
    // MQTT.js emits 'error' for a refused connection; without a listener that is a crash.
    client.on('error', (err) => (lastError = err));
    const onConnect = (): void => {
      client.removeListener('close', onClose);
      resolve({ client });
    };
    const onClose = (): void => {
      client.removeListener('connect', onConnect);
      client.end(true);
      const code = connack === null ? null : protocolVersion === 5 ? (connack.reasonCode ?? null) : (connack.returnCode ?? null);
      const reference = connack?.properties?.serverReference ?? null;
      const why = lastError?.message ?? (connack === null ? 'the connection closed before a CONNACK' : `CONNACK ${code}`);
      resolve({ why: reference === null ? why : `${why}, Server Reference ${reference}`, connack: code, reference });
    };
    client.once('connect', onConnect);
    client.once('close', onClose);
  });
}

/**
 * The address a Server Reference names: one of the list when its host:port is (with the list's
 * scheme and credentials), else host:port on the scheme and credentials of the address that
 * answered. MQTT 5.0 leaves the reference's format to the server; ours sends host:port.
 */
export function referencedUrl(reference: string, from: string, urls: readonly string[]): string | null {
  // Several references may be given, space-separated (MQTT 5.0 section 4.11): the first is taken.
  const first = reference.trim().split(/\s+/)[0] ?? '';
  let host: string;
  try {
    host = first.includes('://') ? new URL(first).host : new URL(`mqtt://${first}`).host;
  } catch {
    return null;
  }
  if (host === '') return null;
  const known = urls.find((u) => new URL(u).host === host);
  if (known !== undefined) return known;
  const url = new URL(from);
  url.host = host;
  return url.toString().replace(/\/$/, '');
}
