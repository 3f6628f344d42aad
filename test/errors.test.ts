import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as logErrors from '../broker/errors.js';
import { TributaryError } from '../broker/errors.js';
import * as configErrors from '../bridge/config/errors.js';
import { ERROR_CODES, ERROR_TABLES } from '../bridge/error-codes.js';
import * as kafkaErrors from '../bridge/kafka/errors.js';
import * as mqttErrors from '../bridge/mqtt/errors.js';
import * as netErrors from '../bridge/net/errors.js';
import * as replayErrors from '../bridge/replay/errors.js';
import * as upstreamErrors from '../bridge/upstream/errors.js';

/** Every errors module with classes, by the key of its table in ERROR_TABLES. */
const MODULES: Record<string, Record<string, unknown>> = {
  'broker/errors.ts': logErrors,
  'bridge/config/errors.ts': configErrors,
  'bridge/mqtt/errors.ts': mqttErrors,
  'bridge/net/errors.ts': netErrors,
  'bridge/replay/errors.ts': replayErrors,
  'bridge/upstream/errors.ts': upstreamErrors,
  'bridge/kafka/errors.ts': kafkaErrors,
};

type AnyErrorClass = new (...args: unknown[]) => TributaryError;

/** An instance of the class, to read its `code` (an instance field): with no arguments, or problems and a source. */
function sample(cls: AnyErrorClass): TributaryError {
  try {
    return new cls();
  } catch {
    return new cls([], 'test');
  }
}

test('every error code is documented in docs/errors.md, and nothing else is', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(TRIB_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort());
});

test('every error code is defined by exactly one part', () => {
  const owners = new Map<string, string[]>();
  for (const [module, codes] of Object.entries(ERROR_TABLES)) {
    for (const code of codes) owners.set(code, [...(owners.get(code) ?? []), module]);
  }
  const twice = [...owners].filter(([, modules]) => modules.length > 1);
  assert.deepEqual(twice, []);
});

test("every error class's code is in its own module's table", () => {
  let classes = 0;
  for (const [module, exports] of Object.entries(MODULES)) {
    const table: readonly string[] = ERROR_TABLES[module as keyof typeof ERROR_TABLES];
    assert.ok(table !== undefined, `${module} has no table in bridge/error-codes.ts`);
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value !== 'function' || !(value.prototype instanceof TributaryError)) continue;
      classes++;
      const error = sample(value as AnyErrorClass);
      assert.ok(table.includes(error.code), `${name} (${module}) has code ${error.code}, not in its table`);
      assert.equal(error.name, name);
    }
  }
  // The log's and the parts' classes together; a module whose exports were missed would lower this.
  assert.ok(classes >= 25, `found only ${classes} error classes`);
});
