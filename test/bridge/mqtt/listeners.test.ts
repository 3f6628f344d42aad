// Sockets that never send CONNECT against the listeners: they may not hold the slots real clients
// need, wherever those clients come from (another address, or the flooding one), and they are
// closed when their CONNECT is late. Real sockets on loopback: the flood comes from 127.0.0.1, a
// second host from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { test, type TestContext } from 'node:test';
import type { IConnackPacket } from 'mqtt-packet';
import { spawnFixture } from '../../helpers/child.js';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { makePki } from '../../helpers/pki.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';

/** Opens `count` TCP sockets from `localAddress` that never send a byte, `batch` at a time; the server's closes are followed. */
async function idleSockets(t: TestContext, port: number, count: number, batch: number, localAddress = '127.0.0.1'): Promise<Set<Socket>> {
  const open = new Set<Socket>();
  t.after(() => {
    for (const socket of open) socket.destroy();
  });
  for (let opened = 0; opened < count; opened += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - opened) }, () => {
        const socket = tcpConnect({ port, host: '127.0.0.1', localAddress });
        socket.on('error', () => undefined);
        socket.once('close', () => open.delete(socket));
        open.add(socket);
        return new Promise<void>((resolve) => {
          socket.once('connect', resolve);
          socket.once('close', () => resolve());
        });
      }),
    );
  }
  return open;
}

/** A client at the packet level: its CONNACK's return code, or 'closed' when refused without one. */
async function rawConnect(t: TestContext, port: number, clientId: string, localAddress?: string): Promise<{ result: number | 'closed'; raw: RawMqtt }> {
  const raw = await RawMqtt.open(port, localAddress);
  t.after(() => raw.destroy());
  const result = await Promise.race([raw.connect(clientId).then((c: IConnackPacket) => c.returnCode ?? 0), raw.closed.then(() => 'closed' as const)]);
  return { result, raw };
}

test('at maxConnections, idle sockets make room for a real client (the oldest goes); connected clients are never displaced', async (t) => {
  // The case, with the per-address bound on waiting sockets out of the way.
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxConnections: 200, maxPendingConnectsPerAddress: 1000 } } });
  const port = node.mqtt.ports.tcp;
  const steady = await connect(t, url, { clientId: 'steady' });
  const idle = await idleSockets(t, port, 199, 50);
  await waitFor(() => node.mqtt.waitingForConnect === 199, '199 idle sockets accepted');
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${node.http.port}/metrics`)).text();
  assert.match(await metrics(), /^tributary_mqtt_connections_waiting_for_connect 199$/m);

  const { result } = await rawConnect(t, port, 'late-but-real');
  assert.equal(result, 0, 'CONNACK accepted');
  assert.equal(node.mqtt.stats.connectionsRefused['displaced while waiting for CONNECT'], 1);
  await waitFor(() => idle.size === 198, 'the displaced idle socket closed');
  assert.match(await metrics(), /^tributary_mqtt_connections_refused_total\{reason="displaced while waiting for CONNECT"\} 1$/m);
  assert.equal(steady.connected, true);
  await steady.publishAsync('still/here', 'yes', { qos: 1 });
});

test('a flood of 10,000 idle sockets from one address: clients from another address and from the same one still connect', async (t) => {
  // A flood five times the connection limit; the rate limit is lifted to show the slots alone.
  const maxConnections = 2000;
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxConnections, connectionsPerSecond: 1_000_000 } } });
  const port = node.mqtt.ports.tcp;
  const before = await connect(t, url, { clientId: 'connected-before' });
  const flood = 10_000;
  const idle = await idleSockets(t, port, flood, 500);
  const maxPendingConnectsPerAddress = 500; // the default
  const refused = (): number => Object.values(node.mqtt.stats.connectionsRefused).reduce((a, b) => a + b, 0);
  await waitFor(() => node.mqtt.waitingForConnect + refused() === flood, 'every flood socket accepted or closed');
  assert.equal(node.mqtt.waitingForConnect, maxPendingConnectsPerAddress, 'the flood holds no more than its address may');
  await waitFor(() => idle.size === maxPendingConnectsPerAddress, 'the closed ones closed on the flood side too');

  const other = await rawConnect(t, port, 'other-host', '127.0.0.2');
  assert.equal(other.result, 0, 'a client on another address connects');
  const same = await rawConnect(t, port, 'behind-the-same-nat', '127.0.0.1');
  assert.equal(same.result, 0, 'a client on the flooding address connects too');
  assert.equal(before.connected, true, 'a client connected before the flood keeps its connection');
  await before.publishAsync('still/here', 'yes', { qos: 1 });
  assert.equal(node.mqtt.stats.connectionsRefused['displaced while waiting for CONNECT'], flood - maxPendingConnectsPerAddress + 1);
});

test('a connection whose CONNECT does not come within connectTimeout is closed, on TCP, TLS and WebSocket; a client that sent it stays', async (t) => {
  const pki = makePki(t);
  const { node, url } = await startTestNode(t, { mqtt: { limits: { connectTimeout: '300ms' }, tls: { port: 0, cert: pki.serverCert, key: pki.serverKey } } });
  const client = await connect(t, url, { clientId: 'prompt' });
  const tlsClient = await connect(t, `mqtts://127.0.0.1:${node.mqtt.ports.tls}`, { clientId: 'prompt-tls', ca: readFileSync(pki.ca) });
  // No byte at all: on the TCP port, and before the TLS and WebSocket handshakes.
  const idle = await Promise.all([node.mqtt.ports.tcp, node.mqtt.ports.tls!, node.mqtt.ports.websocket!].map((port) => idleSockets(t, port, 1, 1)));
  // Half a CONNECT: the fixed header and a few bytes of a longer body, then nothing.
  const partial = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => partial.destroy());
  partial.socket.write(Buffer.from([0x10, 0x20, 0x00, 0x04, 0x4d]));
  // The TLS handshake done, then nothing.
  const silentTls = tlsConnect({ port: node.mqtt.ports.tls!, host: '127.0.0.1', ca: readFileSync(pki.ca) });
  silentTls.on('error', () => undefined);
  t.after(() => silentTls.destroy());
  const silentClosed = new Promise<void>((resolve) => silentTls.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    silentTls.once('secureConnect', resolve);
    silentTls.once('close', () => reject(new Error('TLS handshake failed')));
  });

  await Promise.all([waitFor(() => idle.every((sockets) => sockets.size === 0), 'idle sockets closed'), partial.closed, silentClosed]);
  assert.equal(node.mqtt.stats.connectionsRefused['CONNECT timeout'], 5);
  assert.equal(node.mqtt.waitingForConnect, 0);
  assert.equal(client.connected && tlsClient.connected, true);
  await client.publishAsync('prompt/ok', 'yes', { qos: 1 });
  await tlsClient.publishAsync('prompt/ok', 'yes', { qos: 1 });
});

test('maxConnectionsPerAddress: a third client from one address is refused, one from another address is not', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { limits: { maxConnectionsPerAddress: 2 } } });
  const port = node.mqtt.ports.tcp;
  assert.equal((await rawConnect(t, port, 'a1')).result, 0);
  assert.equal((await rawConnect(t, port, 'a2')).result, 0);
  assert.equal((await rawConnect(t, port, 'a3')).result, 'closed');
  assert.equal(node.mqtt.stats.connectionsRefused['too many connections from one address'], 1);
  assert.equal((await rawConnect(t, port, 'b1', '127.0.0.2')).result, 0);
});

test('with the default limits, a burst of 500 real clients from one address (a site behind NAT) all connect; none displaces another', async (t) => {
  const { node } = await startTestNode(t);
  let result: { connacked: number; closed: number } | undefined;
  const { child, exited } = spawnFixture('connect-burst.js', [String(node.mqtt.ports.tcp), '500'], (line) => (result = JSON.parse(line) as typeof result));
  t.after(() => child.kill());
  await exited;
  assert.deepEqual(result, { connacked: 500, closed: 0 });
  assert.deepEqual(node.mqtt.stats.connectionsRefused, {});
});
