import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaAuthorizer } from '../../../bridge/kafka/authorization.js';

test('without kafka.acl everyone may read and write every topic, anonymous clients too', () => {
  const open = KafkaAuthorizer.fromConfig(null);
  assert.equal(open.restricts, false);
  assert.equal(open.authorize(null, 'write', 'anything'), true);
  assert.equal(open.authorize('alice', 'read', 'anything'), true);
});

test("kafka.acl grants per user or to everyone ('*'), per operation, with '*' in topic names standing for any run of characters", () => {
  const acl = KafkaAuthorizer.fromConfig([
    { user: 'historian', read: ['telemetry.*', 'mqtt'], write: [] },
    { user: 'controller', read: [], write: ['commands'] },
    { user: '*', read: ['public'], write: [] },
  ]);
  assert.equal(acl.authorize('historian', 'read', 'telemetry.site-1'), true);
  assert.equal(acl.authorize('historian', 'read', 'mqtt'), true);
  assert.equal(acl.authorize('historian', 'read', 'mqtt2'), false, 'a name without * is exact');
  assert.equal(acl.authorize('historian', 'read', 'telemetryXsite'), false, "'.' is a character, not a wildcard");
  assert.equal(acl.authorize('historian', 'write', 'mqtt'), false, 'read does not grant write');
  assert.equal(acl.authorize('controller', 'write', 'commands'), true);
  assert.equal(acl.authorize('controller', 'read', 'commands'), false);
  assert.equal(acl.mayDescribe('controller', 'commands'), true, 'write alone shows the topic in Metadata');
  assert.equal(acl.authorize(null, 'read', 'public'), true, "'*' covers anonymous clients");
  assert.equal(acl.authorize(null, 'read', 'mqtt'), false);
  assert.equal(acl.authorize('someone', 'read', 'public'), true);
  assert.equal(acl.mayDescribe('someone', 'mqtt'), false);
});
