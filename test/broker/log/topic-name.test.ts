// Kafka's topic-name rule, written once (broker/log/topic-name.ts) and applied by the log, the
// config schema and the mapping rules alike: each accepts and refuses the same names, and says why
// in the same words.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { Log } from '../../../broker/log/log.js';
import { isTopicName, TOPIC_NAME_RULE } from '../../../broker/log/topic-name.js';
import { loadConfig } from '../../../bridge/config/load.js';
import { createLogger } from '../../../bridge/logger.js';
import { compileRules, isLogTopicName } from '../../../bridge/shared/mapping-rules.js';
import { Forwarder } from '../../../bridge/upstream/forwarder.js';
import { tempDir } from '../../helpers/temp-dir.js';

const GOOD = ['telemetry', 'a', 'plant-1.line_2', 'A.B-c_9', 'x'.repeat(249)];
const BAD = ['', 'x'.repeat(250), 'a/b', 'a b', 'ünïcode', 'a:b', 'a+b'];

test('the rule: 1-249 characters of A-Z a-z 0-9 . _ -', () => {
  assert.equal(TOPIC_NAME_RULE, '1-249 characters of A-Z a-z 0-9 . _ -');
  for (const name of GOOD) assert.equal(isTopicName(name), true, name);
  for (const name of BAD) assert.equal(isTopicName(name), false, name);
  // The same result on every call (the pattern keeps no lastIndex).
  assert.equal(isTopicName('telemetry'), true);
});

test('the log, the config schema and the mapping rules apply the same rule', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t) });
  t.after(() => log.close());
  for (const name of GOOD.slice(0, 3)) await log.createTopic(name, 1);
  for (const name of BAD.slice(0, 4)) {
    await assert.rejects(log.createTopic(name, 1), { code: 'TRIB_INVALID_RECORD', message: `topic name '${name}' must be ${TOPIC_NAME_RULE}` });
  }

  const file = join(tempDir(t), 'tributary.yaml');
  const configOf = (settings: object): unknown => {
    writeFileSync(file, YAML.stringify(settings));
    return loadConfig({ file, env: {} });
  };
  assert.ok(configOf({ topics: GOOD.map((name) => ({ name })) }));
  for (const name of BAD.slice(1, 4)) {
    assert.throws(() => configOf({ topics: [{ name }] }), (err: { code: string; problems: Array<{ key: string; message: string }> }) => {
      assert.equal(err.code, 'TRIB_CONFIG_INVALID');
      assert.deepEqual(err.problems.map((p) => p.message), [TOPIC_NAME_RULE]);
      return true;
    });
  }

  for (const name of GOOD) assert.equal(isLogTopicName(name), true, name);
  for (const name of BAD) assert.equal(isLogTopicName(name), false, name);
  const { problems } = compileRules([{ filter: 'site/+', topic: 'a b', key: null }]);
  assert.deepEqual(problems, [{ key: 'rules[0].topic', message: `'a b' is not a log topic name (${TOPIC_NAME_RULE})` }]);
});

test('the upstream forwarder refuses a topic template that makes no topic name, before it connects', (t) => {
  const file = join(tempDir(t), 'tributary.yaml');
  writeFileSync(file, YAML.stringify({ node: { id: 'gw-1' }, upstream: { enabled: true, brokers: ['127.0.0.1:9'], topicTemplate: 'edge/{topic}' } }));
  const config = loadConfig({ file, env: {} });
  // The template is checked first: nothing of the log or the cursor store is touched.
  const start = (): unknown => Forwarder.start({ config: config.upstream!, node: 'gw-1', log: null as never, cursors: null as never, logger: createLogger('silent') });
  assert.throws(start, (err: { code: string; problems: Array<{ key: string; message: string }> }) => {
    assert.equal(err.code, 'TRIB_CONFIG_INVALID');
    assert.deepEqual(err.problems, [{ key: 'upstream.topicTemplate', message: `gives 'edge/topic' with node.id 'gw-1': not a valid Kafka topic name (${TOPIC_NAME_RULE})` }]);
    return true;
  });
});
