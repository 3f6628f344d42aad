// The main thread's handle on the writer thread (broker/log/writer.ts), on a real writer thread and
// a real SQLite file: how requests travel to it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { encodeBatch } from '../../../broker/log/record-batch.js';
import { LogWriter } from '../../../broker/log/writer.js';
import type { CommitSize } from '../../../broker/log/writer-protocol.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function startWriter(t: TestContext): Promise<{ writer: LogWriter; partitionId: number; commits: CommitSize[] }> {
  const dataDir = tempDir(t);
  const { writer } = await LogWriter.start({ dataDir, databaseFile: join(dataDir, 'log.db'), durability: 'fsync', fsyncIntervalMs: 1000, commitDelayMs: 0 });
  t.after(() => writer.close());
  const [state] = await writer.createTopic('m', 1);
  const commits: CommitSize[] = [];
  writer.onCommit = (commit) => commits.push(commit);
  return { writer, partitionId: state!.id, commits };
}

const batch = (value: string | Buffer): Buffer => encodeBatch([{ timestamp: Date.now(), key: null, value: Buffer.isBuffer(value) ? value : Buffer.from(value) }]);

test('appends made while the writer has requests to answer wait for the answer and travel together: one message unanswered at a time', async (t) => {
  const { writer, partitionId, commits } = await startWriter(t);
  const sentBefore = writer.messagesSent;
  const answersBefore = commits.length;
  // 200 appends, each in its own event-loop turn, as a thousand devices' publishes arrive: far
  // more turns than the writer's commits (each an fsync) in the same time.
  const appends: Promise<{ baseOffset: number }>[] = [];
  let mostUnanswered = 0;
  for (let i = 0; i < 200; i++) {
    appends.push(writer.append(partitionId, batch(`r${i}`), 0));
    await new Promise((resolve) => setImmediate(resolve));
    mostUnanswered = Math.max(mostUnanswered, writer.messagesSent - sentBefore - (commits.length - answersBefore));
  }
  const stored = await Promise.all(appends);
  assert.deepEqual(
    stored.map((s) => s.baseOffset),
    Array.from({ length: 200 }, (_, i) => i),
    'every append stored, in the order made',
  );
  assert.equal(mostUnanswered, 1, 'at most one message to the writer was unanswered at any time');
  assert.ok(writer.messagesSent - sentBefore < 200, `${writer.messagesSent - sentBefore} messages for 200 appends`);
});

test('appends of 64 KiB or more leave at once, without waiting for the answer to the last message', async (t) => {
  const { writer, partitionId } = await startWriter(t);
  const sentBefore = writer.messagesSent;
  const first = writer.append(partitionId, batch('small'), 0);
  await Promise.resolve();
  assert.equal(writer.messagesSent - sentBefore, 1, 'an append to an idle writer leaves at the end of its run');
  const big = writer.append(partitionId, batch(Buffer.alloc(64 * 1024, 'b')), 0);
  await Promise.resolve();
  assert.equal(writer.messagesSent - sentBefore, 2, 'the large append left at the end of its run');
  assert.deepEqual((await Promise.all([first, big])).map((s) => s.baseOffset), [0, 1]);
});
