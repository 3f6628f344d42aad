// The gateway's collector settings are applied at start-up unless the operator gave node their own.
// Their effect on CPU and memory is what bench:footprint measures; the test below checks the one
// that changes where objects are allocated.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import { tuneGarbageCollector } from '../../bridge/gc-tuning.js';
import { fixture } from '../helpers/child.js';

test('the heap growth and pretenuring settings are applied when node was started without them', () => {
  assert.deepEqual(tuneGarbageCollector(['--max-semi-space-size=2'], '--enable-source-maps'), ['--heap-growing-percent=30', '--no-allocation-site-pretenuring']);
});

test("an operator's own heap growth or pretenuring flag, on the command line or in NODE_OPTIONS, is left alone", () => {
  assert.deepEqual(tuneGarbageCollector(['--heap-growing-percent=80'], ''), ['--no-allocation-site-pretenuring']);
  assert.deepEqual(tuneGarbageCollector([], '--enable-source-maps --heap_growing_percent=80'), ['--no-allocation-site-pretenuring']);
  assert.deepEqual(tuneGarbageCollector(['--allocation-site-pretenuring'], ''), ['--heap-growing-percent=30']);
  assert.deepEqual(tuneGarbageCollector(['--heap-growing-percent=80', '--no_allocation_site_pretenuring'], ''), []);
});

test('objects that live about one scavenge stay in the young generation instead of being allocated in the old one', () => {
  // V8 (with pretenuring) saw such a literal site's objects alive at a scavenge, allocated all later
  // ones straight in the old generation, and the young generation saw almost no allocation again:
  // one to a few dozen scavenges for the whole run. Kept young, ~200 MB go through a 1 MB semi-space.
  const run = spawnSync(process.execPath, ['--min-semi-space-size=1', '--max-semi-space-size=1', fixture('short-lived-site.js')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const counts = JSON.parse(run.stdout) as { objects: number; scavenges: number; markCompacts: number; heapUsed: number };
  assert.ok(counts.scavenges >= 100, `scavenges while ${counts.objects} objects were made: ${JSON.stringify(counts)}`);
});
