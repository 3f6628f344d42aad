import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionForKey } from '../../../broker/murmur2.js';
import { MessageBuilder, upstreamPartition, upstreamSize, upstreamTopicName } from '../../../bridge/upstream/upstream-record.js';

test('upstream partition: 1:1 when the counts match, murmur2 of the key otherwise, keyless by a fixed mapping', () => {
  const key = Buffer.from('line-3/temp');
  assert.equal(upstreamPartition(key, 2, 4, 4), 2);
  assert.equal(upstreamPartition(key, 2, 4, 12), partitionForKey(key, 12));
  assert.equal(upstreamPartition(null, 5, 6, 4), 1);
});

test('upstream message: same key, value, timestamp and headers (repeated names kept), plus the source headers', () => {
  const builder = new MessageBuilder('gw-1', 1, 2, 'edge.gw-1.t', 2);
  const message = builder.build({ offset: 41, timestamp: 1_700_000_000_123, key: Buffer.from('k'), value: Buffer.from('v'), headers: [['h', Buffer.from('1')], ['h', Buffer.from('2')], ['n', null]] });
  assert.equal(message.topic, 'edge.gw-1.t');
  assert.equal(message.partition, 1);
  assert.equal(message.timestamp, 1_700_000_000_123n);
  assert.equal(message.key?.toString(), 'k');
  assert.equal(message.value?.toString(), 'v');
  const headers = [...(message.headers as Map<Buffer, Buffer | null>)].map(([k, v]) => `${k.toString()}=${v?.toString() ?? 'null'}`);
  assert.deepEqual(headers, ['h=1', 'h=2', 'n=null', 'tributary.node=gw-1', 'tributary.partition=1', 'tributary.offset=41']);
  // Names are made once per builder: the next records get the same headers, repeats still kept.
  const next = builder.build({ offset: 42, timestamp: 0, key: null, value: Buffer.from('w'), headers: [['n', Buffer.from('3')], ['h', Buffer.from('4')], ['h', Buffer.from('5')], ['h', Buffer.from('6')]] });
  const nextHeaders = [...(next.headers as Map<Buffer, Buffer | null>)].map(([k, v]) => `${k.toString()}=${v?.toString() ?? 'null'}`);
  assert.deepEqual(nextHeaders, ['n=3', 'h=4', 'h=5', 'h=6', 'tributary.node=gw-1', 'tributary.partition=1', 'tributary.offset=42']);
  assert.equal(headers.length, 6, 'the first message keeps its own headers');
  assert.ok(upstreamSize({ offset: 41, timestamp: 0, key: Buffer.from('k'), value: Buffer.alloc(100), headers: [] }, 'gw-1') > 150);
  assert.equal(upstreamTopicName('edge.{node}.{topic}', 'gw-1', 'telemetry'), 'edge.gw-1.telemetry');
});
