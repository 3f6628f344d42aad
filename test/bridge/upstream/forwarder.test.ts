// The forwarder's status without a reachable Kafka (nothing listens on 127.0.0.1:1): a real log,
// a real cursor store, the forwarder retrying in the background.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { CursorStore } from '../../../broker/cursors.js';
import { Log } from '../../../broker/log/log.js';
import { loadConfig } from '../../../bridge/config/load.js';
import { Forwarder } from '../../../bridge/upstream/forwarder.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function startForwarder(t: TestContext): Promise<{ log: Log; forwarder: Forwarder }> {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 2 }] });
  onCleanup(t, () => log.close());
  const cursors = CursorStore.open(dataDir);
  onCleanup(t, () => cursors.close());
  const config = { ...loadConfig({ env: {} }).upstream!, enabled: true, brokers: ['127.0.0.1:1'], retryInitial: 50, retryMax: 200 };
  const forwarder = Forwarder.start({ config, node: 'gw-status', log, cursors, logger: pino({ level: 'silent' }) });
  onCleanup(t, () => forwarder.close());
  return { log, forwarder };
}

/** Counts the log's topic listings while `read` runs: how lanes are found. */
function topicListings(log: Log, read: () => void): number {
  const topics = log.topics.bind(log);
  let looks = 0;
  log.topics = () => {
    looks += 1;
    return topics();
  };
  try {
    read();
  } finally {
    log.topics = topics;
  }
  return looks;
}

const names = (forwarder: Forwarder): string[] => forwarder.status().partitions.map((p) => `${p.topic}/${p.partition}`).sort();

test('status() only reads: the lanes are made at start and when partitions appear, never by a status call', async (t) => {
  const { log, forwarder } = await startForwarder(t);
  // Before, status() looked for new partitions and added their lanes (a write in a read).
  assert.equal(topicListings(log, () => forwarder.status()), 0, 'status() does not look for partitions');
  assert.deepEqual(names(forwarder), ['telemetry/0', 'telemetry/1'], 'the lanes of the partitions the log had at start');

  await log.createTopic('alarms', 1);
  assert.equal(topicListings(log, () => forwarder.status()), 0, 'status() does not look for partitions');
  assert.deepEqual(names(forwarder), ['alarms/0', 'telemetry/0', 'telemetry/1'], 'a partition added to the log has its lane at once');

  const first = forwarder.status();
  const second = forwarder.status();
  assert.deepEqual(second.partitions, first.partitions, 'a second call sees what the first saw');
});
