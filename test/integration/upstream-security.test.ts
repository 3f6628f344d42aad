// The forwarder through Kafka's SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and TLS listeners of one
// real Kafka; wrong credentials and an untrusted certificate give a clear error, retries, and
// ingest goes on.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { ConfigInput } from '../../bridge/config/schema.js';
import { startKafka, type KafkaNode } from '../helpers/kafka.js';
import { connect, startTestNode, type TestNode } from '../helpers/mqtt-node.js';
import { caughtUp, readUpstream, waitForStatus } from '../helpers/upstream.js';

let kafka: KafkaNode;
const cleanups: Array<() => Promise<void>> = [];

async function nodeWith(t: TestContext, id: string, upstream: NonNullable<ConfigInput['upstream']>): Promise<TestNode> {
  return startTestNode(t, {
    node: { id },
    mqtt: { mapping: { rules: [{ filter: '#', topic: 'mqtt', key: '{mqtt.topic}' }] } },
    upstream: { enabled: true, retryInitial: 100, retryMax: 500, requestTimeout: 5000, ...upstream },
  });
}

async function publishAndCheck(t: TestContext, node: TestNode, id: string): Promise<void> {
  const client = await connect(t, node.url);
  await Promise.all(Array.from({ length: 20 }, (_, i) => client.publishAsync(`sensor/${i % 3}`, `${id}-${i}`, { qos: 1 })));
  await waitForStatus(() => node.node.upstream!.status(), caughtUp(20), `${id}: 20 forwarded`);
  const records = await readUpstream(kafka.bootstrap, `edge.${id}.mqtt`);
  assert.deepEqual(records.map((r) => r.value), Array.from({ length: 20 }, (_, i) => `${id}-${i}`));
}

describe('upstream forwarder through SASL and TLS', () => {
  before(async () => {
    kafka = await startKafka({ after: (fn: () => Promise<void>) => void cleanups.push(fn) }, { sasl: true, tls: true });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  for (const mechanism of ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    test(`SASL ${mechanism}: records arrive exactly once`, async (t) => {
      const id = `gw-${mechanism.toLowerCase()}`;
      const node = await nodeWith(t, id, { brokers: [kafka.saslBootstrap!], sasl: { mechanism, username: 'tributary', password: 'tributary-secret' } });
      await publishAndCheck(t, node, id);
    });
  }

  test('wrong SASL password: TRIB_UPSTREAM_AUTH naming the refusal, retried, ingest unaffected', async (t) => {
    const node = await nodeWith(t, 'gw-badpass', { brokers: [kafka.saslBootstrap!], sasl: { mechanism: 'SCRAM-SHA-256', username: 'tributary', password: 'wrong' } });
    const status = await waitForStatus(() => node.node.upstream!.status(), (s) => s.counters.errors >= 2, 'two refused attempts');
    assert.equal(status.state, 'retrying');
    assert.equal(status.lastError?.code, 'TRIB_UPSTREAM_AUTH');
    assert.match(status.lastError!.message, /credentials/);
    assert.doesNotMatch(JSON.stringify(status), /wrong/, 'the password is not echoed');
    const client = await connect(t, node.url);
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.publishAsync('sensor/x', `kept-${i}`, { qos: 1 })));
    assert.equal(node.node.upstream!.status().totalLag, 10);
  });

  test('TLS with the cluster CA: records arrive exactly once', async (t) => {
    const node = await nodeWith(t, 'gw-tls', { brokers: [kafka.tlsBootstrap!], tls: { enabled: true, ca: kafka.caFile! } });
    await publishAndCheck(t, node, 'gw-tls');
  });

  test('TLS to a certificate no configured CA signed: TRIB_UPSTREAM_AUTH, retried', async (t) => {
    const node = await nodeWith(t, 'gw-untrusted', { brokers: [kafka.tlsBootstrap!], tls: { enabled: true } });
    const status = await waitForStatus(() => node.node.upstream!.status(), (s) => s.counters.errors >= 2, 'two refused attempts');
    assert.equal(status.lastError?.code, 'TRIB_UPSTREAM_AUTH');
    assert.match(status.lastError!.message, /certificate/i);
  });
});
