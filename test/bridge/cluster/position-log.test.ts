// The witness's header log (bridge/cluster/position-log.ts): a real SQLite file, reopened.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterStateError } from '../../../bridge/cluster/errors.js';
import { PositionLog } from '../../../bridge/cluster/position-log.js';
import type { EntryHeader } from '../../../bridge/cluster/witness-messages.js';
import { tempDir } from '../../helpers/temp-dir.js';

const header = (seq: number, epoch: number): EntryHeader => ({ seq, epoch, topic: 'mqtt', partition: 0, baseOffset: seq * 10, lastOffset: seq * 10 + 9, size: 100 + seq });

test('headers append in order, survive a reopen, and a tail is truncated after a position', (t) => {
  const dir = tempDir(t);
  const log = PositionLog.open(dir);
  assert.deepEqual(log.lastEntry(), { epoch: -1, seq: 0 });
  log.append([header(1, 1), header(2, 1), header(4, 2)]);
  assert.deepEqual(log.lastEntry(), { seq: 4, epoch: 2 });
  log.close();

  const reopened = PositionLog.open(dir);
  t.after(() => reopened.close());
  assert.deepEqual(reopened.lastEntry(), { seq: 4, epoch: 2 });
  assert.equal(reopened.size, 3);
  reopened.truncateAfter(2);
  assert.deepEqual(reopened.lastEntry(), { seq: 2, epoch: 1 });
  reopened.append([header(3, 3)]);
  assert.deepEqual(reopened.lastEntry(), { seq: 3, epoch: 3 });
});

test('a header that does not follow the last one (position or epoch going back) is refused and nothing of its batch is stored', (t) => {
  const log = PositionLog.open(tempDir(t));
  t.after(() => log.close());
  log.append([header(5, 2)]);
  assert.throws(() => log.append([header(6, 2), header(6, 2)]), ClusterStateError);
  assert.throws(() => log.append([header(7, 1)]), ClusterStateError);
  assert.deepEqual(log.lastEntry(), { seq: 5, epoch: 2 });
  assert.equal(log.size, 1);
});
