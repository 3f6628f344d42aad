// The console logger: JSON lines unless a person reads them. The terminal case runs the logger in
// a child process under a real pseudo-terminal (util-linux `script`), the pipe case under a pipe.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createConsoleLogger, prettyFor } from '../../bridge/logger.js';
import { fixture } from '../helpers/child.js';

const FIXTURE = fixture('console-logger.js');

function runUnderPipe(format: string): string {
  const r = spawnSync(process.execPath, [FIXTURE, format], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function runUnderTerminal(format: string): string {
  // script -q: no banner; -e: its exit status is the command's; the typescript file is discarded.
  const command = [process.execPath, FIXTURE, format].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const isJsonLine = (text: string): boolean => {
  try {
    return typeof JSON.parse(text.trim()) === 'object';
  } catch {
    return false;
  }
};

test('auto: JSON lines to a pipe (systemd, Docker), readable lines on a terminal; the password redacted in both', () => {
  const piped = runUnderPipe('auto');
  assert.ok(isJsonLine(piped), `a JSON line under a pipe: ${piped}`);
  const line = JSON.parse(piped) as { msg: string; component: string; user: { password: string } };
  assert.equal(line.msg, 'client connected');
  assert.equal(line.component, 'mqtt');
  assert.equal(line.user.password, '[redacted]');

  const shown = runUnderTerminal('auto');
  assert.ok(!isJsonLine(shown), `not JSON on a terminal: ${shown}`);
  assert.match(shown, /INFO/);
  assert.match(shown, /\[mqtt\] client connected/);
  assert.match(shown, /\[redacted\]/);
  assert.doesNotMatch(shown, /hunter2/);
  assert.match(shown, /\x1b\[/, 'coloured on a terminal');
});

test('json and pretty override what the stream is', async () => {
  assert.ok(isJsonLine(runUnderTerminal('json')), 'json on a terminal');
  const pretty = runUnderPipe('pretty');
  assert.match(pretty, /INFO.*\[mqtt\] client connected/);
  assert.doesNotMatch(pretty, /hunter2|\x1b\[/);

  assert.equal(prettyFor('auto', { isTTY: true }), true);
  assert.equal(prettyFor('auto', {}), false);
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const logger = await createConsoleLogger({ level: 'info', format: 'pretty', stream: out });
  logger.info({ sasl: { password: 'pw-in-sasl' } }, 'upstream connecting');
  assert.match(text, /upstream connecting/);
  assert.doesNotMatch(text, /pw-in-sasl/);
});
