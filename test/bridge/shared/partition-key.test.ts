// The key of a partition: `topic/partition`. The upstream cursors carry it inside their Kafka keys
// (`<node>/<topic>/<partition>`), so its format is stored data and must not change.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionKey } from '../../../bridge/shared/partition-key.js';
import { cursorKey } from '../../../bridge/upstream/cursor-topic.js';

test('a partition key is topic/partition, and the cursor key is node/topic/partition', () => {
  assert.equal(partitionKey('plant-1.telemetry', 3), 'plant-1.telemetry/3');
  assert.equal(cursorKey('gw-1', 'plant-1.telemetry', 3), 'gw-1/plant-1.telemetry/3');
});
