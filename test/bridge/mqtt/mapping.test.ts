import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigInvalidError } from '../../../bridge/config/errors.js';
import { loadConfig } from '../../../bridge/config/load.js';
import { TopicMapper } from '../../../bridge/mqtt/mapping.js';
import { tempDir } from '../../helpers/temp-dir.js';

const rule = (filter: string, topic: string, key: string | null = '{mqtt.topic}') => ({ filter, topic, key });

test('with no config every publish lands in topic mqtt, keyed by its MQTT topic', () => {
  const mapper = TopicMapper.compile(loadConfig({ env: {} }).mqtt.mapping);
  assert.deepEqual(mapper.route('factory/a/b', 'dev-1'), { topic: 'mqtt', key: Buffer.from('factory/a/b'), rule: 0 });
  assert.equal(mapper.route('$SYS/broker/uptime', 'x'), null, "'#' does not match $ topics [MQTT-4.7.2-1]");
});

test('first match wins; captures, #rest, the client id and a null key fill the templates', () => {
  const mapper = TopicMapper.compile({
    rules: [
      rule('factory/+site/+line/+device/alarm', 'alarms', '{site}/{device}'),
      rule('factory/+site/+line/+device/#rest', 'telemetry.{site}', '{line}:{device}:{rest}'),
      rule('fleet/+vehicle/gps', 'gps', '{mqtt.clientId}'),
      rule('debug/#', 'debug', null),
    ],
  });
  assert.deepEqual(mapper.route('factory/berlin/l2/press-7/alarm', 'c'), { topic: 'alarms', key: Buffer.from('berlin/press-7'), rule: 0 });
  assert.deepEqual(mapper.route('factory/berlin/l2/press-7/temp/c', 'c'), { topic: 'telemetry.berlin', key: Buffer.from('l2:press-7:temp/c'), rule: 1 });
  assert.deepEqual(mapper.route('fleet/truck-9/gps', 'tracker-9'), { topic: 'gps', key: Buffer.from('tracker-9'), rule: 2 });
  assert.deepEqual(mapper.route('debug/x/y', 'c'), { topic: 'debug', key: null, rule: 3 });
  assert.equal(mapper.route('elsewhere', 'c'), null);
});

test('a log topic built from captures that is no valid name is refused, not thrown', () => {
  const mapper = TopicMapper.compile({ rules: [rule('site/+name/data', 'telemetry.{name}')] });
  assert.deepEqual(mapper.route('site/a b/data', 'c'), { refused: 'invalid log topic name', detail: "'telemetry.a b' (rule 0)" });
});

test('bad rules are listed at start-up, all at once, each naming its key', (t) => {
  const file = join(tempDir(t), 'bad.yaml');
  writeFileSync(
    file,
    [
      'mqtt:',
      '  mapping:',
      '    rules:',
      "      - { filter: 'a/b#', topic: x }",
      "      - { filter: 'factory/+site/#', topic: 'telemetry.{sit}' }",
      "      - { filter: 'a/+', topic: 'has space' }",
      "      - { filter: 'a/+x', topic: 't', key: '{x' }",
    ].join('\n'),
  );
  assert.throws(
    () => loadConfig({ file, env: {} }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigInvalidError);
      const keys = err.problems.map((p) => p.key);
      assert.deepEqual(keys, ['mqtt.mapping.rules[0].filter', 'mqtt.mapping.rules[1].topic', 'mqtt.mapping.rules[2].topic', 'mqtt.mapping.rules[3].key']);
      assert.match(err.message, /'\{sit\}' is not a capture of 'factory\/\+site\/#' \(known: \{site\}, \{mqtt.topic\}, \{mqtt.clientId\}\)/);
      assert.match(err.message, /unclosed '\{'/);
      return true;
    },
  );
  assert.throws(() => TopicMapper.compile({ rules: [rule('#', 'x}')] }), /unmatched '\}'/);
});

test('a log topic built from captures that names an internal topic (__tributary_*) is refused', () => {
  const mapper = TopicMapper.compile({ rules: [rule('site/+name/data', '{name}')] });
  assert.deepEqual(mapper.route('site/__tributary_retained/data', 'c'), { refused: 'invalid log topic name', detail: "'__tributary_retained' (rule 0)" });
  assert.equal((mapper.route('site/telemetry/data', 'c') as { topic: string }).topic, 'telemetry');
});

test('{user.NAME} fills a template with an MQTT 5.0 User Property; a rule naming one matches only a publish that has it, else the next rule does', () => {
  const mapper = TopicMapper.compile({
    rules: [
      rule('sensors/+kind/#', 'sensors.{user.site}', '{user.deviceId}:{kind}'),
      rule('sensors/#', 'sensors', '{mqtt.clientId}'),
    ],
  });
  assert.deepEqual(mapper.route('sensors/temp/a', 'c-1', { deviceId: 'dev-42', site: 'hall3' }), { topic: 'sensors.hall3', key: Buffer.from('dev-42:temp'), rule: 0 });
  // Given twice: the first value.
  assert.deepEqual(mapper.route('sensors/temp/a', 'c-1', { deviceId: ['dev-1', 'dev-2'], site: 'x' }), { topic: 'sensors.x', key: Buffer.from('dev-1:temp'), rule: 0 });
  // Without them (a 3.1.1 publish, or one missing a name): the next rule.
  assert.deepEqual(mapper.route('sensors/temp/a', 'c-1'), { topic: 'sensors', key: Buffer.from('c-1'), rule: 1 });
  assert.deepEqual(mapper.route('sensors/temp/a', 'c-1', { deviceId: 'dev-42' }), { topic: 'sensors', key: Buffer.from('c-1'), rule: 1 });
  // A value that makes no log topic name is refused, as a capture's is.
  assert.deepEqual(mapper.route('sensors/temp/a', 'c-1', { deviceId: 'd', site: 'a b' }), { refused: 'invalid log topic name', detail: "'sensors.a b' (rule 0)" });
  assert.throws(() => TopicMapper.compile({ rules: [rule('#', 't', '{user.}')] }), /'\{user\.\}' is not a capture/);
});
