#!/usr/bin/env node
// Runs every compiled test file under dist/test with node:test. Node 20 has no glob support in
// `node --test`, so the files are listed here. Extra arguments narrow the run: a path fragment
// ("broker/log") keeps the files whose path contains it. A compiled test whose source is gone (a
// test moved or deleted since the last build: tsc does not remove its output) is not run.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const filters = process.argv.slice(2);

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = walk(root)
  .filter((file) => existsSync(join('test', relative(root, file)).replace(/\.js$/, '.ts')))
  .filter((file) => filters.length === 0 || filters.some((f) => relative(root, file).includes(f)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no test files matched ${filters.join(' ') || root}\n`);
  process.exit(1);
}
// Node 20's --test-timeout bounds each test *file* (its process), not each test in it: a file of
// several cluster tests needs more than a few minutes on a loaded CI machine (one of 3 min was cut
// short there while its tests were passing). The tests' own waits are bounded (test/helpers/
// wait-for.ts); this bound only ends a file that hangs.
const FILE_TIMEOUT_MS = 20 * 60_000;
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${FILE_TIMEOUT_MS}`, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
