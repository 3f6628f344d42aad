// `tributary salvage` as an operator runs it, on a data directory damaged at page level: the node
// refuses to open it with TRIB_LOG_DAMAGED naming the command; salvage copies what is intact, names
// what was lost, copies the intact side files, and the new directory serves the records.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CursorStore } from '../../../broker/cursors.js';
import { Log } from '../../../broker/log/log.js';
import { CLI, runCli } from '../../helpers/cli.js';
import { damageBatchesLeaf } from '../../helpers/damaged-page.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** A stopped node's data directory: 3,000 records in 300 batches, one B-tree page of them garbage. */
async function damagedDataDir(t: TestContext): Promise<string> {
  const oldDir = join(tempDir(t), 'old');
  const log = await Log.open({ dataDir: oldDir, durability: 'write', topics: [{ name: 'plant', partitions: 1 }] });
  for (let b = 0; b < 300; b++) await log.append('plant', 0, Array.from({ length: 10 }, (_, i) => ({ timestamp: 1_700_000_000_000 + b, key: null, value: Buffer.from(`b${b}-r${i}-${'x'.repeat(100)}`) })));
  await log.close();
  const cursors = CursorStore.open(oldDir);
  cursors.commit('nightly', 'plant', 0, 1234);
  cursors.close();
  writeFileSync(join(oldDir, 'mqtt.db'), Buffer.alloc(8192, 0x33)); // the session store is garbage too
  damageBatchesLeaf(join(oldDir, 'log.db'));
  return oldDir;
}

test('salvage: a damaged batches page, salvage copies the intact batches and side files and reports the losses (exit 3)', async (t) => {
  const oldDir = await damagedDataDir(t);

  // Opening reads no batch (docs/disk.md), so the damage shows only to reads of the range it holds
  // (test/broker/log/corruption.test.ts); a damaged page that opening reads is refused there too.
  const listed = runCli(['topics', '--data-dir', oldDir]);
  assert.equal(listed.status, 0, listed.stderr);

  const newDir = join(tempDir(t), 'new');
  const salvage = runCli(['salvage', '--data-dir', oldDir, '--to', newDir]);
  assert.equal(salvage.status, 3, salvage.stderr);
  assert.equal(salvage.stderr, '', 'no progress bar on a pipe');
  const lost = /^lost plant-0 offsets (\d+)\.\.(\d+): storage page damaged/m.exec(salvage.stdout);
  assert.ok(lost, salvage.stdout);
  assert.match(salvage.stdout, /^copied cursors\.db \(reader positions/m);
  assert.match(salvage.stdout, /^not copied mqtt\.db \(MQTT sessions.*\): /m);

  const json = runCli(['salvage', '--data-dir', oldDir, '--to', join(tempDir(t), 'again'), '--json']);
  assert.equal(json.status, 3);
  const report = JSON.parse(json.stdout) as { partitions: Array<{ lost: Array<{ fromOffset: number; toOffset: number }>; recordsCopied: number }>; files: Array<{ file: string; copied: boolean }> };
  assert.deepEqual(report.partitions[0]!.lost.map((l) => [l.fromOffset, l.toOffset]), [[Number(lost[1]), Number(lost[2])]]);
  assert.equal(report.partitions[0]!.recordsCopied, 3000 - (Number(lost[2]) - Number(lost[1]) + 1));
  assert.deepEqual(report.files.map((f) => [f.file, f.copied]), [['cursors.db', true], ['mqtt.db', false]]);

  // The new directory: the records before the damage, the reader's position, the hole named.
  const replay = runCli(['replay', '--data-dir', newDir, '--topic', 'plant', '--skip-corrupt']);
  assert.equal(replay.status, 0, replay.stderr);
  assert.equal(replay.stdout.trimEnd().split('\n').length, report.partitions[0]!.recordsCopied);
  assert.match(replay.stderr, new RegExp(`skipped corrupt batch plant-0 offsets ${lost[1]}\\.\\.${lost[2]}: .*are missing`));
  const readers = runCli(['readers', '--data-dir', newDir, '--json']);
  assert.match(readers.stdout, /"nightly"[\s\S]*1234/);
});

test('on a terminal salvage draws its progress on stderr', async (t) => {
  const oldDir = await damagedDataDir(t);
  const newDir = join(tempDir(t), 'new');
  const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} salvage --data-dir ${oldDir} --to ${newDir}`, '/dev/null'], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stdout);
  assert.match(r.stdout, /\[[#.]+\] +\d+% [\d.k]+\/3000 offsets/, 'the bar');
  assert.match(r.stdout, /salvage copied \d+ batches of 1 partition\(s\) in \d+\.\d s/);
});
