// The real Kafka the forwarder will be tested against, and the evidence for choosing its client:
// @platformatic/kafka 1.x on this Node (20) does the idempotent producer, transactions that a
// read_committed consumer honours, and gzip/snappy/lz4 (zstd needs a Node with zlib zstd: 22.15+).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { startKafka } from '../helpers/kafka.js';

async function createTopic(bootstrap: string, topic: string, partitions: number): Promise<void> {
  const admin = new Admin({ clientId: 'harness-admin', bootstrapBrokers: [bootstrap] });
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

/** Every committed record of `topic` as `partition:value`, read until `count` arrived. */
async function consume(bootstrap: string, topic: string, count: number): Promise<string[]> {
  const consumer = new Consumer({ groupId: `harness-${topic}-${Date.now()}`, clientId: 'harness-consumer', bootstrapBrokers: [bootstrap], deserializers: stringDeserializers });
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', isolationLevel: 1 /* READ_COMMITTED */, autocommit: false });
  const seen: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records arrived: ${seen.join(', ')}`)), 30_000);
      stream.on('data', (message: { partition: number; value: string }) => {
        seen.push(`${message.partition}:${message.value}`);
        if (seen.length >= count) (clearTimeout(timer), resolve());
      });
    });
  } finally {
    await stream.close();
    await consumer.close();
  }
  return seen;
}

test('a real Kafka: idempotent and transactional producers, aborted records invisible to read_committed', async (t) => {
  const kafka = await startKafka(t);
  await createTopic(kafka.bootstrap, 'edge.telemetry', 2);
  const bootstrapBrokers = [kafka.bootstrap];

  const idempotent = new Producer({ clientId: 'idem', bootstrapBrokers, serializers: stringSerializers, idempotent: true });
  await idempotent.send({ messages: [{ topic: 'edge.telemetry', key: 'k', value: 'idempotent', partition: 0 }] });
  await idempotent.close();

  const transactional = new Producer({ clientId: 'tx', bootstrapBrokers, serializers: stringSerializers, idempotent: true, transactionalId: 'tributary-test' });
  for (const [value, commit] of [['committed-1', true], ['aborted', false], ['committed-2', true]] as const) {
    const tx = await transactional.beginTransaction();
    await tx.send({ messages: [{ topic: 'edge.telemetry', key: 'k', value, partition: 0 }] });
    await (commit ? tx.commit() : tx.abort());
  }
  await transactional.close();

  const compressions: Array<'gzip' | 'snappy' | 'lz4' | 'zstd'> = ['gzip', 'snappy', 'lz4', ...('zstdCompress' in zlib ? (['zstd'] as const) : [])];
  for (const compression of compressions) {
    const producer = new Producer({ clientId: `c-${compression}`, bootstrapBrokers, serializers: stringSerializers, compression });
    await producer.send({ messages: [{ topic: 'edge.telemetry', key: 'k', value: compression, partition: 1 }] });
    await producer.close();
  }

  const seen = await consume(kafka.bootstrap, 'edge.telemetry', 3 + compressions.length);
  assert.deepEqual(seen.filter((s) => s.startsWith('0:')), ['0:idempotent', '0:committed-1', '0:committed-2']);
  assert.deepEqual(seen.filter((s) => s.startsWith('1:')), compressions.map((c) => `1:${c}`));
});

test('a killed Kafka comes back on the same port with its data', async (t) => {
  const kafka = await startKafka(t);
  await createTopic(kafka.bootstrap, 'outage', 1);
  const send = async (value: string): Promise<void> => {
    const producer = new Producer({ clientId: 'outage', bootstrapBrokers: [kafka.bootstrap], serializers: stringSerializers, idempotent: true });
    try {
      await producer.send({ messages: [{ topic: 'outage', value }] });
    } finally {
      await producer.close();
    }
  };
  await send('before');
  await kafka.kill();
  await kafka.restart();
  await send('after');
  assert.deepEqual(await consume(kafka.bootstrap, 'outage', 2), ['0:before', '0:after']);
});
