import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, parseHash, verifyPassword } from '../../../bridge/mqtt/passwords.js';

test('a hash verifies its own password and no other; salts differ', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword(Buffer.from('correct horse'), b), true, 'MQTT passwords arrive as bytes');
  assert.equal(await verifyPassword('correct horse ', a), false);
  assert.equal(await verifyPassword('', a), false);
});

test('a malformed stored hash never verifies and says why', async () => {
  for (const bad of ['plain', '$scrypt$N=1000,r=8,p=1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==', '$scrypt$N=16384,r=8,p=1$c2FsdA==$aGk=', '$scrypt$N=1048576,r=64,p=1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==']) {
    const parsed = parseHash(bad);
    assert.ok('invalid' in parsed, bad);
    assert.equal(await verifyPassword('x', bad), false);
  }
});
