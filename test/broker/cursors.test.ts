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

test('onChange tells every durable change of a position (commits, deletes, a rename); applyReplicated tells none', (t) => {
  const store = CursorStore.open(tempDir(t));
  t.after(() => store.close());
  const told: unknown[] = [];
  store.onChange((changes) => told.push(...changes.map((c) => [c.group, c.topic, c.partition, c.nextOffset])));
  store.commit('reader:a', 'mqtt', 0, 4);
  store.commitMany('kafka:g', [{ topic: 'mqtt', partition: 1, nextOffset: 9 }]);
  store.commit('old', 'mqtt', 2, 1);
  store.renameAndCommit('old', 'reader:old', [{ topic: 'mqtt', partition: 0, nextOffset: 2 }]);
  store.deleteMany('kafka:g', [{ topic: 'mqtt', partition: 1 }]);
  store.delete('reader:a');
  store.applyReplicated([{ group: 'reader:b', topic: 'mqtt', partition: 0, nextOffset: 7 }]);
  assert.deepEqual(told, [
    ['reader:a', 'mqtt', 0, 4],
    ['kafka:g', 'mqtt', 1, 9],
    ['old', 'mqtt', 2, 1],
    ['old', 'mqtt', 2, null],
    ['reader:old', 'mqtt', 2, 1],
    ['reader:old', 'mqtt', 0, 2],
    ['kafka:g', 'mqtt', 1, null],
    ['reader:a', 'mqtt', 0, null],
  ]);
  assert.equal(store.get('reader:b', 'mqtt', 0), 7);
});
