// Bounded fuzzing of the config loader (test/helpers/fuzz-config.ts): a few thousand random files,
// environments and flags, each either loaded and frozen or refused with a config error naming keys.
// A failure prints its seed; FUZZ_SEED=<seed> replays the run, FUZZ_CASES sets its length.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzCases, fuzzSeed } from '../../helpers/fuzz.js';
import { fuzzConfigLoader } from '../../helpers/fuzz-config.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('config loader fuzz: a frozen config or ConfigInvalidError / ConfigFileError, never another exception, nothing printed', async (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const warnings: string[] = [];
  const onWarning = (w: Error): number => warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const tally = fuzzConfigLoader(seed, 0, fuzzCases(2000), tempDir(t));
  t.diagnostic(JSON.stringify(tally));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings, [], `the loader printed process warnings (FUZZ_SEED=${seed})`);
  // The generator reaches all three outcomes (else it would be testing little).
  // With the full case count (a short FUZZ_CASES replay may not get there):
  if (process.env.FUZZ_CASES === undefined) assert.ok(tally.loaded > 0 && tally.invalid > 0 && tally.fileErrors > 0, JSON.stringify(tally));
});
