// A full disk and a read-only data directory, for real: the writer runs in its own user and mount
// namespace (util-linux `unshare`, no root needed) on a 4 MiB tmpfs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnFixture } from '../../helpers/child.js';
import { tempDir } from '../../helpers/temp-dir.js';

interface Outcome {
  acked: number;
  errors: string[];
  intact: boolean;
}

async function runInTinyFs<T = Outcome>(t: import('node:test').TestContext, mode: 'full' | 'readonly' | 'staged'): Promise<T> {
  const dir = tempDir(t);
  let line = '';
  const script = 'mount -t tmpfs -o size=4m tributary-test "$1" && shift && exec "$@"';
  const { exited } = spawnFixture('log-disk-trouble.js', [dir, mode], (l) => (line = l), {
    file: 'unshare',
    prefix: ['--user', '--map-root-user', '--mount', 'sh', '-c', script, 'sh', dir, process.execPath],
  });
  const result = await exited;
  assert.equal(result.code, 0, `the writer process must stay up and exit cleanly; stderr:\n${result.stderr}`);
  return JSON.parse(line) as T;
}

test('disk full: appends fail with TRIB_LOG_DISK_FULL, the process stays up, acknowledged data is intact', async (t) => {
  const outcome = await runInTinyFs(t, 'full');
  assert.ok(outcome.acked > 20, `only ${outcome.acked} appends fit`);
  assert.ok(outcome.errors.length >= 4, 'the failing append and the three after it were refused');
  for (const e of outcome.errors) assert.match(e, /^TRIB_LOG_DISK_FULL: no space left for the log/);
  assert.equal(outcome.intact, true, 'every acknowledged record reads back unchanged');
});

test('read-only data directory: opening for writing fails with TRIB_LOG_READ_ONLY, stored data is intact', async (t) => {
  const outcome = await runInTinyFs(t, 'readonly');
  assert.equal(outcome.acked, 20);
  assert.equal(outcome.errors.length, 1);
  for (const e of outcome.errors) assert.match(e, /^TRIB_LOG_READ_ONLY: the data directory .* is not writable/);
  assert.equal(outcome.intact, true);
});

test('disk full on a replication leader: a group followers could fetch before its commit failed fences its epoch; a newer epoch appends again, and the lost epoch ends before the lost entry', async (t) => {
  const outcome = await runInTinyFs<{
    first: string;
    lost: number;
    lostServed: boolean;
    sameEpochRefused: string;
    sameEpochInWriter: string;
    newEpoch: string;
    last: { seq: number; epoch: number };
    epoch3Ends: { seq: number; epoch: number };
    lostFrom: number;
  }>(t, 'staged');
  assert.equal(outcome.first, 'TRIB_LOG_DISK_FULL');
  assert.equal(outcome.lostServed, true, 'the failed group was readable (served to followers) before its commit failed');
  assert.equal(outcome.lost, 1, 'the leader is told once, to step down');
  assert.equal(outcome.sameEpochRefused, 'TRIB_LOG_NOT_LEADER');
  assert.equal(outcome.sameEpochInWriter, 'TRIB_LOG_NOT_LEADER', 'the lost position is not handed out again in the same epoch');
  assert.equal(outcome.newEpoch, 'ok');
  assert.deepEqual(outcome.last, { seq: outcome.lostFrom, epoch: 4 }, 'a newer epoch takes the position again');
  assert.equal(outcome.epoch3Ends.seq, outcome.lostFrom - 1, 'a follower holding the lost entry is told to truncate it');
});
