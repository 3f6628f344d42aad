// Clean-ups that run in reverse order of registration, like `defer`: node:test runs t.after hooks
// in registration order, so a temp dir created before the node that writes into it would be
// removed while the node still runs. Helpers register here instead; the stack's one t.after hook
// is registered by the first helper a test calls.
import type { TestContext } from 'node:test';

const stacks = new WeakMap<TestContext, Array<() => unknown>>();

export function onCleanup(t: TestContext, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const fresh: Array<() => unknown> = [];
    stacks.set(t, fresh);
    stack = fresh;
    t.after(async () => {
      for (let f = fresh.pop(); f !== undefined; f = fresh.pop()) await f();
    });
  }
  stack.push(fn);
}
