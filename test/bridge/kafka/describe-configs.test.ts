// DescribeConfigs through a real Kafka client (@platformatic/kafka's Admin): a topic's retention as
// the node's config set it, -1 where there is none, an unknown topic named as such.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { startTestNode } from '../../helpers/mqtt-node.js';
import { onCleanup } from '../../helpers/cleanup.js';

const TOPIC = 2;

test('DescribeConfigs answers a topic\'s retention truthfully, and names an unknown topic', async (t) => {
  const { node } = await startTestNode(t, {
    kafka: { enabled: true, port: 0 },
    log: { retention: { maxAge: '3d', maxBytes: null } },
    topics: [{ name: 'mqtt', partitions: 1 }, { name: 'alarms', partitions: 2, retention: { maxBytes: '64MiB' } }],
  });
  const admin = new Admin({ clientId: 'describe-configs-test', bootstrapBrokers: [`127.0.0.1:${node.kafka!.port}`] });
  onCleanup(t, () => admin.close());

  const described = await admin.describeConfigs({ resources: [{ resourceType: TOPIC, resourceName: 'mqtt' }, { resourceType: TOPIC, resourceName: 'alarms' }], includeDocumentation: true });
  const values = (name: string): Record<string, string | null | undefined> =>
    Object.fromEntries(described.find((d) => d.resourceName === name)!.configs.map((c) => [c.name, c.value]));
  assert.equal(values('mqtt')['retention.ms'], String(3 * 86_400_000));
  assert.equal(values('mqtt')['retention.bytes'], '-1');
  assert.equal(values('alarms')['retention.ms'], String(3 * 86_400_000), 'a key the topic leaves out is inherited');
  assert.equal(values('alarms')['retention.bytes'], String(64 * 1024 * 1024));
  assert.equal(values('alarms')['cleanup.policy'], 'delete');

  const only = await admin.describeConfigs({ resources: [{ resourceType: TOPIC, resourceName: 'alarms', configurationKeys: ['retention.bytes'] }] });
  assert.deepEqual(only[0]!.configs.map((c) => c.name), ['retention.bytes'], 'only the keys asked for');

  // UNKNOWN_TOPIC_OR_PARTITION (3): the client retries it, then gives up with the broker's code inside.
  await assert.rejects(admin.describeConfigs({ resources: [{ resourceType: TOPIC, resourceName: 'nope' }] }), (err: Error) => {
    const codes: unknown[] = [];
    const walk = (e: { apiCode?: unknown; errors?: unknown[] }): void => {
      if (e.apiCode !== undefined) codes.push(e.apiCode);
      for (const inner of e.errors ?? []) walk(inner as typeof e);
    };
    walk(err as never);
    assert.ok(codes.length > 0 && codes.every((c) => c === 3), `codes ${JSON.stringify(codes)}`);
    return true;
  });
});
