// A node whose log holds publishes back: a 16 MiB disk budget with upstream on and nothing
// listening there, so nothing stored counts as forwarded; a 3.1.1 publisher fills it until the
// budget holds appends (docs/disk.md). Space comes back with `freeSpace` (retention, tightened).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket } from 'mqtt-packet';
import { connect, startTestNode, type TestNode } from './mqtt-node.js';
import { waitFor } from './wait-for.js';

const MiB = 1024 * 1024;

export interface NodeAtBudget extends TestNode {
  /** The 3.1.1 client that filled the budget; every publish it made is acknowledged by `freeSpace`. */
  publisher: MqttClient;
  /** Tightens the topic's retention so that the budget lets go, and waits for every fill publish's PUBACK. */
  freeSpace: () => Promise<void>;
}

/**
 * `qos`: of the filling publishes; 1 goes through the fast path, 2 through aedes, so that the
 * publishes held at the end are all of one path.
 */
export async function startNodeAtBudget(t: TestContext, qos: 1 | 2 = 1): Promise<NodeAtBudget> {
  const started = await startTestNode(t, {
    log: { disk: { maxBytes: 16 * MiB, minFreeBytes: null } },
    topics: [{ name: 'mqtt', partitions: 1 }],
    upstream: { enabled: true, brokers: ['127.0.0.1:1'], retryInitial: 100, retryMax: 1000, requestTimeout: 1000 },
  });
  const { node, url } = started;
  const publisher = await connect(t, url, { clientId: 'budget-filler' });
  const payload = Buffer.alloc(8000, 120);
  const fills: Promise<unknown>[] = [];
  // Publish until the budget holds appends: the check runs once a second on its own.
  while (!node.log.diskStatus().holding) {
    const burst = Array.from({ length: 50 }, () => publisher.publishAsync('plant/press', payload, { qos }));
    fills.push(...burst);
    await Promise.race([Promise.all(burst), waitFor(() => node.log.diskStatus().holding, 'holding', 60_000)]);
    assert.ok(fills.length < 20_000, 'the budget held before 160 MB were sent');
  }
  const freeSpace = async (): Promise<void> => {
    await node.log.createTopic('mqtt', 1, { maxAgeMs: null, maxBytes: 4 * MiB });
    await node.log.enforceRetention();
    await Promise.all(fills);
    await waitFor(() => !node.log.diskStatus().holding, 'the budget to let go', 30_000);
  };
  return { ...started, publisher, freeSpace };
}

/** Connects to `url` and resolves with the CONNACK, accepted or refused; the client ends with the test. */
export function connackOf(t: TestContext, url: string, options: IClientOptions): Promise<IConnackPacket> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  t.after(() => client.end(true));
  return new Promise((resolve, reject) => {
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') resolve(packet as IConnackPacket);
    });
    client.on('error', () => undefined);
    client.once('close', () => setTimeout(() => reject(new Error(`no CONNACK from ${url}`)), 100));
  });
}
