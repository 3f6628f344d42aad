// MQTT 5.0 server redirect in a cluster (issue 18; MQTT 5.0 section 4.11): a follower answers an
// MQTT 5.0 CONNECT with CONNACK 0x9C (Use another server) and the leader's MQTT address
// (cluster.peers[].mqtt) as Server Reference, and with 0x88 (Server unavailable) when it knows no
// leader; a 3.1.1 client still gets return code 3. Three real nodes, MQTT.js with protocolVersion 5.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket } from 'mqtt-packet';
import { startReplicas, waitForLeader, type Replica } from '../helpers/replicas.js';
import { PATIENCE_MS } from '../helpers/wait-for.js';

/** Connects to `address` and resolves with the CONNACK (accepted or refused) and the client. */
function connack(address: string, options: IClientOptions): Promise<{ packet: IConnackPacket; client: MqttClient }> {
  const client = mqtt.connect(`mqtt://${address}`, { reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  return new Promise((resolve, reject) => {
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') resolve({ packet: packet as IConnackPacket, client });
    });
    client.on('error', () => undefined);
    client.once('close', () => setTimeout(() => reject(new Error(`no CONNACK from ${address}`)), 100));
  });
}

const addressOf = (replica: Replica): string => `127.0.0.1:${replica.mqttPort}`;

test('a follower redirects an MQTT 5.0 client to the leader (CONNACK 0x9C, Server Reference), 0x88 without a known leader; 3.1.1 still gets 3', async (t) => {
  const replicas = await startReplicas(t, 3, { peerMqtt: true });
  const leader = await waitForLeader(replicas);
  const followers = replicas.filter((r) => r !== leader);

  const { packet: redirect, client: refused } = await connack(addressOf(followers[0]!), { clientId: 'redirected', protocolVersion: 5 });
  refused.end(true);
  assert.equal(redirect.reasonCode, 0x9c);
  assert.equal(redirect.properties?.serverReference, addressOf(leader));
  // The reference is where the client is taken.
  const { packet: accepted, client } = await connack(redirect.properties!.serverReference!, { clientId: 'redirected', protocolVersion: 5 });
  t.after(() => client.end(true));
  assert.equal(accepted.reasonCode, 0);
  await client.publishAsync('plant/line/power', 'after the redirect', { qos: 1 });

  const { packet: old, client: oldClient } = await connack(addressOf(followers[0]!), { clientId: 'old', protocolVersion: 4 });
  oldClient.end(true);
  assert.equal(old.returnCode, 3, 'a 3.1.1 client has no redirect: server unavailable');

  // Alone, a node soon hears from no leader (within its election timeout): 0x88, no reference.
  await leader.kill();
  await followers[1]!.kill();
  let unavailable: IConnackPacket | undefined;
  for (const deadline = Date.now() + PATIENCE_MS; unavailable === undefined && Date.now() < deadline; ) {
    const { packet, client: none } = await connack(addressOf(followers[0]!), { clientId: 'nowhere', protocolVersion: 5 });
    none.end(true);
    if (packet.reasonCode === 0x88) unavailable = packet;
    else assert.equal(packet.reasonCode, 0x9c, 'redirected to the leader until it is heard from no more');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(unavailable?.reasonCode, 0x88);
  assert.equal(unavailable.properties?.serverReference, undefined);
});
