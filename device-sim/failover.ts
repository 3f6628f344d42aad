// Devices that know several gateways (a cluster's nodes): MQTT.js's `servers` list, which it walks
// round-robin, one address per connection attempt; a node that is a follower answers CONNACK 3,
// "server unavailable" ([MQTT-3.2.2-6]: the server then closes the connection), which is a failed
// attempt like a refused or timed-out connection, and the client moves on. Within a round the next
// address is tried at once (after FAILOVER_MS); after a whole round failed, the wait doubles from
// RECONNECT_MS up to MAX_RECONNECT_MS. A connection that comes up resets it.
//
// QoS 1 and 2 messages without their PUBACK/PUBCOMP stay in MQTT.js's outgoing store and are sent
// again on the next connection, whichever node it reaches ([MQTT-4.4.0-1] for a resumed session;
// MQTT.js does it for clean sessions too). At QoS 1 the new leader may then store a message twice,
// which MQTT allows: the simulator counts these resends.
import type { IClientOptions, MqttClient } from 'mqtt';

export const FAILOVER_MS = 100;
export const RECONNECT_MS = 1000;
export const MAX_RECONNECT_MS = 8000;

/** The MQTT.js options for a list of addresses (nothing for one: MQTT.js takes it from the URL). */
export function serverOptions(urls: readonly URL[]): Partial<IClientOptions> {
  if (urls.length < 2) return {};
  const protocol = urls[0]!.protocol.slice(0, -1) as 'mqtt' | 'mqtts' | 'ws' | 'wss' | 'tcp' | 'ssl';
  const defaultPort = protocol === 'mqtts' || protocol === 'ssl' ? 8883 : protocol === 'ws' ? 80 : protocol === 'wss' ? 443 : 1883;
  return {
    servers: urls.map((u) => ({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || defaultPort), protocol })),
    reconnectOnConnackError: true,
  };
}

/** The wait before the next attempt after `failures` attempts in a row failed, over `addresses` addresses. */
export function retryDelayMs(failures: number, addresses: number): number {
  if (failures % addresses !== 0) return FAILOVER_MS;
  const rounds = failures / addresses;
  return Math.min(MAX_RECONNECT_MS, RECONNECT_MS * 2 ** Math.max(0, rounds - 1));
}

/** MQTT.js's reconnect timer, which is private: restarting it is the only way to change its period. */
interface ReconnectTimer {
  _clearReconnect?: () => void;
  _setupReconnect?: () => void;
  reconnectTimer: unknown;
}

/**
 * Applies retryDelayMs to `client`: each failed attempt (a close without a CONNACK 0) sets the wait
 * before the next one. `onAttemptFailed` hears each failure in order (the probe counts them).
 */
export function applyBackoff(client: MqttClient, addresses: number, onAttemptFailed?: (failures: number) => void): void {
  let failures = 0;
  let up = false;
  client.on('connect', () => {
    failures = 0;
    up = true;
    client.options.reconnectPeriod = addresses > 1 ? FAILOVER_MS : RECONNECT_MS;
  });
  client.on('close', () => {
    // A connection that was up and dropped: try again soon (the next address, when there are several).
    if (up) {
      up = false;
      return;
    }
    failures++;
    onAttemptFailed?.(failures);
    const timer = client as unknown as ReconnectTimer;
    if (client.disconnecting || client.options.reconnectPeriod === 0 || timer._clearReconnect === undefined || timer._setupReconnect === undefined) return;
    client.options.reconnectPeriod = retryDelayMs(failures, addresses);
    // The close handler MQTT.js registered first has already armed its timer at the old period.
    if (timer.reconnectTimer) {
      timer._clearReconnect();
      timer._setupReconnect();
    }
  });
}
