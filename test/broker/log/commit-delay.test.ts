// log.commitDelay: an append reaching an idle writer waits that long for more appends to share its
// group commit (one fsync).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function firstCommitSize(t: TestContext, commitDelayMs: number): Promise<number> {
  const commits: number[] = [];
  const log = await Log.open({ dataDir: tempDir(t), commitDelayMs, topics: [{ name: 'm', partitions: 1 }], observer: { committed: (c) => commits.push(c.batches) } });
  t.after(() => log.close());
  // Ten appends, each in its own event-loop turn, as ten devices' publishes arrive.
  const appends: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    appends.push(log.append('m', 0, [{ timestamp: Date.now(), key: null, value: Buffer.from(`r${i}`) }]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(appends);
  return commits[0]!;
}

test('with log.commitDelay appends of several turns share the first group commit', async (t) => {
  // 100 ms is far longer than ten event-loop turns: all ten wait for the same commit. (Without the
  // delay the first append is committed as soon as the writer sees it, usually alone.)
  assert.equal(await firstCommitSize(t, 100), 10);
});
