// The load generator against a real aedes: every message it counts as acknowledged reached the
// broker, and a refused CONNECT is a clear error.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import { BrokerRefusedError, runRawPublisher } from '../../device-sim/raw-publisher.js';

async function startAedes(t: import('node:test').TestContext, options: ConstructorParameters<typeof Aedes>[0] = {}): Promise<{ port: number; seen: () => number }> {
  let seen = 0;
  const broker = await Aedes.createBroker({
    ...options,
    authorizePublish: (_client, _packet, done) => {
      seen++;
      done(null);
    },
  });
  const server = createServer(broker.handle);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => new Promise<void>((done) => server.close(() => broker.close(() => done()))));
  return { port: (server.address() as AddressInfo).port, seen: () => seen };
}

test('publishes a fixed count at QoS 1 over several connections; acked = sent = what the broker saw', async (t) => {
  const broker = await startAedes(t);
  const result = await runRawPublisher({ host: '127.0.0.1', port: broker.port, connections: 4, payloadBytes: 100, count: 20_000, window: 50 });
  assert.equal(result.sent, 20_000);
  assert.equal(result.acked, 20_000);
  assert.equal(broker.seen(), 20_000);
  assert.equal(result.latency, null, 'latency is measured in rate mode only');
});

test('at a fixed rate it measures PUBACK latency', async (t) => {
  const broker = await startAedes(t);
  const result = await runRawPublisher({ host: '127.0.0.1', port: broker.port, connections: 2, payloadBytes: 10, durationMs: 500, rate: 2000 });
  assert.equal(result.acked, result.sent);
  assert.ok(result.latency !== null && result.latency.p99Ms >= result.latency.p50Ms && result.latency.p50Ms > 0);
});

test('a refused CONNECT and an unreachable broker are clear errors', async (t) => {
  const broker = await startAedes(t, { authenticate: (_client, _user, _password, done) => done(null, false) });
  await assert.rejects(runRawPublisher({ host: '127.0.0.1', port: broker.port, connections: 1, payloadBytes: 10, count: 1 }), (err: unknown) => err instanceof BrokerRefusedError && /CONNACK return code 5/.test(err.message));
  const closed = createServer();
  await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((done) => closed.close(done));
  await assert.rejects(runRawPublisher({ host: '127.0.0.1', port, connections: 1, payloadBytes: 10, count: 1 }), /cannot reach the broker at 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
});

test('MQTT 5.0 (protocolVersion 5): every message reaches the broker as a v5 PUBLISH with its own packet id, and is counted once acknowledged', async (t) => {
  const versions = new Set<number>();
  const payloads = new Set<string>();
  let seen = 0;
  const broker = await Aedes.createBroker({
    authorizePublish: (client, packet, done) => {
      seen++;
      versions.add(client!.version!);
      payloads.add(packet.payload.toString());
      done(null);
    },
  });
  const server = createServer(broker.handle);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => new Promise<void>((done) => server.close(() => broker.close(() => done()))));
  const port = (server.address() as AddressInfo).port;
  const result = await runRawPublisher({ host: '127.0.0.1', port, connections: 3, payloadBytes: 40, count: 6000, window: 50, protocolVersion: 5 });
  assert.equal(result.sent, 6000);
  assert.equal(result.acked, 6000);
  assert.equal(seen, 6000);
  assert.deepEqual([...versions], [5]);
  assert.deepEqual([...payloads], ['x'.repeat(40)], 'the packet id was stamped where it is, not into the payload');
});
