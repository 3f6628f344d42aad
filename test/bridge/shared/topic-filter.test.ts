import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TopicFilter, TopicFilterError } from '../../../bridge/shared/topic-filter.js';

const matches = (filter: string, topic: string): boolean => new TopicFilter(filter).match(topic) !== null;

test('+ matches one level, # the rest including the parent [MQTT-4.7.1-2]', () => {
  assert.ok(matches('a/+/c', 'a/b/c'));
  assert.ok(!matches('a/+/c', 'a/b/x/c'));
  assert.ok(matches('a/+', 'a/'), 'an empty level is a level');
  assert.ok(matches('a/#', 'a'));
  assert.ok(matches('a/#', 'a/b/c'));
  assert.ok(!matches('a/#', 'ab'));
  assert.ok(!matches('a/b', 'a/b/c'));
  assert.ok(matches('#', 'x/y'));
});

test('wildcards first do not match $ topics [MQTT-4.7.2-1]', () => {
  assert.ok(!matches('#', '$SYS/uptime'));
  assert.ok(!matches('+/uptime', '$SYS/uptime'));
  assert.ok(matches('$SYS/#', '$SYS/uptime'));
});

test('named wildcards capture what they matched', () => {
  assert.deepEqual(new TopicFilter('f/+site/+line/#rest').match('f/berlin/l2/press/temp'), { site: 'berlin', line: 'l2', rest: 'press/temp' });
  assert.deepEqual(new TopicFilter('f/#rest').match('f'), { rest: '' });
});

test('invalid filters are refused with the reason', () => {
  for (const bad of ['', 'a/b#', '#/a', 'a/+x-y', 'a/+n/+n', 'a+/b']) {
    assert.throws(() => new TopicFilter(bad), TopicFilterError, bad);
  }
});

test('covers: what a subscribe ACL asks of a SUBSCRIBE filter', () => {
  const covers = (acl: string, sub: string): boolean => new TopicFilter(acl).covers(new TopicFilter(sub));
  assert.ok(covers('a/#', 'a/+/c'));
  assert.ok(covers('a/#', 'a/#'));
  assert.ok(!covers('a/+', 'a/#'));
  assert.ok(covers('+/+', 'x/y'));
  assert.ok(covers('+/+', '+/y'));
  assert.ok(!covers('+/+', 'x/y/z'));
  assert.ok(covers('#', 'anything/#'));
  assert.ok(!covers('a/b', 'a/+'));
});
