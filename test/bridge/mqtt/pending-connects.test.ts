// Which waiting connection makes room: the oldest of the new one's address when that address is at
// its bound, else the oldest of all when all are at theirs; none while there is room.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingConnects } from '../../../bridge/mqtt/pending-connects.js';

const HOUR = 3_600_000;

test('the oldest waiting connection makes room: of the same address first, else of all', (t) => {
  const pending = new PendingConnects<{ address: string; name: string }>({ max: 4, maxPerAddress: 2, timeoutMs: HOUR });
  t.after(() => pending.clear());
  const a1 = { address: 'a', name: 'a1' };
  const a2 = { address: 'a', name: 'a2' };
  const b1 = { address: 'b', name: 'b1' };
  const c1 = { address: 'c', name: 'c1' };
  for (const c of [a1, b1]) {
    assert.equal(pending.toDisplace(c.address), undefined);
    pending.add(c, () => assert.fail('no timeout'));
  }
  pending.add(a2, () => assert.fail('no timeout'));
  assert.equal(pending.toDisplace('a'), a1, "address a is at its bound: its oldest goes, not b's");
  pending.add(c1, () => assert.fail('no timeout'));
  assert.equal(pending.toDisplace('d'), a1, 'all are at their bound: the oldest of all goes');
  assert.equal(pending.settle(a1), true, 'its CONNECT came');
  assert.equal(pending.settle(a1), false, 'settled once');
  assert.equal(pending.toDisplace('d'), undefined);
  assert.equal(pending.toDisplace('a'), undefined);
  assert.equal(pending.oldest(), b1);
  assert.equal(pending.oldest('a'), a2);
  assert.deepEqual([pending.size, pending.countFrom('a'), pending.countFrom('z')], [3, 1, 0]);
});

test('a connection still waiting after timeoutMs is handed back once; a settled one is not', async () => {
  const pending = new PendingConnects<{ address: string }>({ max: 10, maxPerAddress: 10, timeoutMs: 1 });
  const late = { address: 'a' };
  const prompt = { address: 'a' };
  const timedOut: object[] = [];
  const expired = new Promise<void>((resolve) => pending.add(late, (c) => (timedOut.push(c), resolve())));
  pending.add(prompt, (c) => timedOut.push(c));
  pending.settle(prompt);
  await expired;
  assert.deepEqual(timedOut, [late]);
  assert.equal(pending.size, 0);
});
