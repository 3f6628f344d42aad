// What the log's refusals mean to a Kafka producer, per partition, on a real socket against a real
// log: a node that is not the replication leader answers NOT_LEADER_OR_FOLLOWER (docs/replication.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../../broker/log/log.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { createLogger } from '../../../../bridge/logger.js';
import { clientBatch } from '../../../helpers/client-batch.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { produce } from '../../../helpers/kafka-produce.js';
import { RawKafka } from '../../../helpers/raw-kafka.js';
import { makeRecords } from '../../../helpers/records.js';
import { tempDir } from '../../../helpers/temp-dir.js';

test('a node that takes no appends (a replication follower) answers Produce with NOT_LEADER_OR_FOLLOWER (6), v3 and v9', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'in', partitions: 1 }] });
  onCleanup(t, () => log.close());
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 1 << 20, maxConnections: 10, clusterId: 'test', log, logger: createLogger('silent'), maxMessageBytes: 1_048_588 });
  onCleanup(t, () => server.close());
  const kafka = await RawKafka.open(t, server.port);
  log.refuseAppends('this node is not the cluster leader');
  for (const version of [3, 9]) {
    const answer = await produce(kafka, version, [{ topic: 'in', partition: 0, records: clientBatch(makeRecords(1)) }]);
    assert.deepEqual(answer?.map((a) => [a.partition, a.error]), [[0, 6]], `v${version}`);
  }
  assert.equal(log.partition('in', 0).logEndOffset, 0);
});
