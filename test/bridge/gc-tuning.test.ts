// The gateway's collector setting is applied at start-up unless the operator gave node their own.
// Its effect on memory is what bench:footprint measures.
import assert from 'node:assert/strict';
import test from 'node:test';
import { tuneGarbageCollector } from '../../bridge/gc-tuning.js';

test('the heap growth setting is applied when node was started without one', () => {
  assert.equal(tuneGarbageCollector(['--max-semi-space-size=2'], '--enable-source-maps'), true);
});

test("an operator's own heap growth flag, on the command line or in NODE_OPTIONS, is left alone", () => {
  assert.equal(tuneGarbageCollector(['--heap-growing-percent=80'], ''), false);
  assert.equal(tuneGarbageCollector([], '--enable-source-maps --heap_growing_percent=80'), false);
});
