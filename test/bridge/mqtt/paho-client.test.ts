// A third independent MQTT 5.0 implementation against the node (issue 18): Eclipse Paho for Python
// (Debian's python3-paho-mqtt, run by Debian's python3). Properties out and back (user properties,
// content type, response topic, correlation data), stored as record headers; a SUBACK reason code
// (0x87, outside the ACL).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { hashPassword } from '../../../bridge/mqtt/passwords.js';
import { startTestNode } from '../../helpers/mqtt-node.js';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../../test/helpers/paho-v5.py', import.meta.url));

test('Paho (python3-paho-mqtt) with MQTT 5.0: properties delivered and stored as headers, SUBACK 0x87 outside the ACL', async (t) => {
  const { node } = await startTestNode(t, {
    mqtt: { auth: { users: [{ username: 'paho', password: await hashPassword('pw') }], acl: [{ user: 'paho', publish: ['paho/#'], subscribe: ['paho/#'] }] } },
  });
  const { stdout } = await run('/usr/bin/python3', [SCRIPT, String(node.mqtt.ports.tcp), 'paho', 'pw'], { timeout: 60_000 });
  const result = JSON.parse(stdout) as { connack: number; suback: number[]; message: Record<string, unknown> };
  assert.equal(result.connack, 0);
  assert.deepEqual(result.suback, [1, 0x87], 'QoS 1 granted on paho/#, 0x87 Not authorized on secret/#');
  assert.deepEqual(result.message, {
    topic: 'paho/props',
    payload: '{"t":21.5}',
    contentType: 'application/json',
    responseTopic: 'paho/reply',
    correlationData: 'req-42',
    userProperties: [['site', 'hall-3'], ['line', '7']],
  });
  const [record] = node.log.read('mqtt', 0, 0).records;
  const headers = Object.fromEntries(record!.headers.map(([name, value]) => [name, value?.toString()]));
  assert.equal(headers['mqtt.content_type'], 'application/json');
  assert.equal(headers['mqtt.response_topic'], 'paho/reply');
  assert.equal(headers['mqtt.correlation_data'], 'req-42');
  assert.equal(headers['mqtt.user.site'], 'hall-3');
  assert.equal(headers['mqtt.user.line'], '7');
});
