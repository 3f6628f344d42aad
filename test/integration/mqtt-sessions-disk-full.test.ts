// The session store on a full disk: who owns a client id is written there at CONNECT and at the
// end of a clean session. A write that fails must cost that client its CONNECT at most, never the
// node. The node runs on a small tmpfs in its own mount namespace, as in mqtt-backpressure.test.ts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { hashPassword } from '../../bridge/mqtt/passwords.js';
import { connectionRefusal } from '../helpers/mqtt-node.js';
import { tempDir } from '../helpers/temp-dir.js';
import { startNodeOnTinyDisk } from '../helpers/tiny-disk.js';

test('disk full: claiming and freeing client ids refuses or logs, and the node stays up', async (t) => {
  const config = join(tempDir(t), 'tributary.yaml');
  writeFileSync(config, YAML.stringify({ mqtt: { host: '127.0.0.1', auth: { users: [{ username: 'press-a', password: await hashPassword('a-secret') }] } } }));
  const { child, exited, port, ask } = await startNodeOnTinyDisk(t, 16, config);
  const url = `mqtt://127.0.0.1:${port}`;
  const a = { username: 'press-a', password: 'a-secret' };
  assert.equal(await connectionRefusal(url, { ...a, clientId: 'keeper', clean: false }), 'connected');

  assert.ok(((await ask('fill')).filled as number) > 0);
  // A new persistent session: its owner cannot be written. Whatever the client is told, the node lives.
  await connectionRefusal(url, { ...a, clientId: 'new-dash', clean: false });
  // A clean session of an owned id ends: the owner cannot be deleted.
  await connectionRefusal(url, { ...a, clientId: 'keeper', clean: true });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(child.exitCode, null, 'the node is still running');
  assert.ok('stats' in (await ask('stats')));

  await ask('free');
  assert.equal(await connectionRefusal(url, { ...a, clientId: 'after', clean: false }), 'connected');
  await ask('stop');
  assert.equal((await exited).code, 0);
});
