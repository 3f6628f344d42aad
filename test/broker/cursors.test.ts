import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CursorStore } from '../../broker/cursors.js';
import { tempDir } from '../helpers/temp-dir.js';

test('cursors: get, commit, list, delete, and they survive a reopen', (t) => {
  const dir = tempDir(t);
  const store = CursorStore.open(dir);
  assert.equal(store.get('upstream', 'mqtt', 0), null);
  store.commit('upstream', 'mqtt', 0, 10);
  store.commit('upstream', 'mqtt', 0, 25);
  store.commitMany('reader-a', [
    { topic: 'mqtt', partition: 1, nextOffset: 3 },
    { topic: 'other', partition: 0, nextOffset: 0 },
  ]);
  assert.equal(store.get('upstream', 'mqtt', 0), 25);
  assert.throws(() => store.commit('upstream', 'mqtt', 0, -1), RangeError);
  store.close();
  store.close();

  const again = CursorStore.open(dir);
  t.after(() => again.close());
  assert.deepEqual(
    again.list().map(({ group, topic, partition, nextOffset }) => `${group}/${topic}/${partition}=${nextOffset}`),
    ['reader-a/mqtt/1=3', 'reader-a/other/0=0', 'upstream/mqtt/0=25'],
  );
  assert.equal(again.delete('reader-a'), 2);
  assert.equal(again.get('reader-a', 'mqtt', 1), null);
  assert.equal(again.get('upstream', 'mqtt', 0), 25);
});

test('cursors: a commit that returned survives SIGKILL of the process right after it', (t) => {
  const dir = tempDir(t);
  const moduleUrl = new URL('../../broker/cursors.js', import.meta.url).href;
  const script = `import(${JSON.stringify(moduleUrl)}).then(({ CursorStore }) => {
    const s = CursorStore.open(${JSON.stringify(dir)});
    for (let i = 1; i <= 50; i++) s.commit('g', 't', 0, i);
    process.kill(process.pid, 'SIGKILL');
  });`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)) });
  assert.equal(run.signal, 'SIGKILL', run.stderr.toString());
  const store = CursorStore.open(dir);
  t.after(() => store.close());
  assert.equal(store.get('g', 't', 0), 50);
});
