import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigInvalidError } from '../../../bridge/config/errors.js';
import { AccessControl } from '../../../bridge/mqtt/access.js';
import { hashPassword } from '../../../bridge/mqtt/passwords.js';

const auth = (over: Partial<Parameters<typeof AccessControl.fromConfig>[0]> = {}) => ({ users: [], allowAnonymous: null, acl: null, clientIds: null, ...over });

test('anonymous access: on while no user exists, off once one does, unless set', async () => {
  assert.deepEqual(await AccessControl.fromConfig(auth()).authenticate(undefined, undefined), { ok: true });
  const users = [{ username: 'u', password: await hashPassword('p') }];
  assert.deepEqual(await AccessControl.fromConfig(auth({ users })).authenticate(undefined, undefined), { ok: false, reason: 'anonymous not allowed', returnCode: 5 });
  assert.deepEqual(await AccessControl.fromConfig(auth({ users, allowAnonymous: true })).authenticate(undefined, undefined), { ok: true });
  assert.deepEqual(await AccessControl.fromConfig(auth({ allowAnonymous: false })).authenticate(undefined, undefined), { ok: false, reason: 'anonymous not allowed', returnCode: 5 });
});

test('users: right password in, wrong password or unknown name out with CONNACK 4', async () => {
  const access = AccessControl.fromConfig(auth({ users: [{ username: 'pump', password: await hashPassword('s3cret') }] }));
  assert.deepEqual(await access.authenticate('pump', Buffer.from('s3cret')), { ok: true });
  assert.deepEqual(await access.authenticate('pump', Buffer.from('nope')), { ok: false, reason: 'bad username or password', returnCode: 4 });
  assert.deepEqual(await access.authenticate('pump', undefined), { ok: false, reason: 'bad username or password', returnCode: 4 });
  assert.deepEqual(await access.authenticate('ghost', Buffer.from('s3cret')), { ok: false, reason: 'bad username or password', returnCode: 4 });
});

test('ACLs: default deny, per user and for everyone, with %u and %c', () => {
  const access = AccessControl.fromConfig(
    auth({
      acl: [
        { user: '*', publish: ['devices/%c/#'], subscribe: ['commands/%c/#'] },
        { user: 'ops', publish: [], subscribe: ['#'] },
        { user: 'line-lead', publish: ['lines/%u/+'], subscribe: [] },
      ],
    }),
  );
  const pump = { id: 'pump-7', username: null };
  assert.equal(access.canPublish(pump, 'devices/pump-7/flow'), true);
  assert.equal(access.canPublish(pump, 'devices/pump-8/flow'), false);
  assert.equal(access.canSubscribe(pump, 'commands/pump-7/#'), true);
  assert.equal(access.canSubscribe(pump, 'commands/#'), false, 'a wider filter than granted');
  assert.equal(access.canSubscribe({ id: 'x', username: 'ops' }, 'anything/+/deep'), true);
  assert.equal(access.canPublish({ id: 'x', username: 'ops' }, 'devices/x/y'), true, "ops gets the '*' rules too");
  assert.equal(access.canPublish({ id: 'c', username: 'line-lead' }, 'lines/line-lead/speed'), true);
  assert.equal(access.canPublish({ id: 'c', username: null }, 'lines//speed'), false, '%u never matches a client without a user name');
});

test('a client id with wildcards or a slash does not widen a %c rule', () => {
  const access = AccessControl.fromConfig(auth({ acl: [{ user: '*', publish: ['devices/%c/data'], subscribe: ['devices/%c/#'] }] }));
  for (const id of ['#', '+', 'a/b']) {
    assert.equal(access.canPublish({ id, username: null }, `devices/${id}/data`), false, id);
    assert.equal(access.canSubscribe({ id, username: null }, 'devices/#'), false, id);
  }
});

test('no ACL allows everything; start-up lists every bad hash and filter', () => {
  assert.equal(AccessControl.fromConfig(auth()).canSubscribe({ id: 'a', username: null }, '#'), true);
  assert.throws(
    () =>
      AccessControl.fromConfig(
        auth({
          users: [{ username: 'a', password: '$scrypt$broken' }],
          acl: [{ user: '*', publish: ['a/#/b'], subscribe: ['ok/#', 'x+'] }],
        }),
      ),
    (err: unknown) =>
      err instanceof ConfigInvalidError &&
      JSON.stringify(err.problems.map((p) => p.key)) === JSON.stringify(['mqtt.auth.users[0].password', 'mqtt.auth.acl[0].publish[0]', 'mqtt.auth.acl[0].subscribe[1]']),
  );
});

test('client id forms: * is any run, %u the user name; a %u form never matches an anonymous client', () => {
  const access = AccessControl.fromConfig(auth({ clientIds: ['%u', '%u-*', 'kiosk-*'] }));
  assert.equal(access.allowsClientId({ id: 'press-a', username: 'press-a' }), true);
  assert.equal(access.allowsClientId({ id: 'press-a-dash', username: 'press-a' }), true);
  assert.equal(access.allowsClientId({ id: 'press-a-dash', username: 'press-b' }), false);
  assert.equal(access.allowsClientId({ id: 'press-ab', username: 'press-a' }), false, 'the dash is part of the form');
  assert.equal(access.allowsClientId({ id: 'kiosk-3', username: null }), true);
  assert.equal(access.allowsClientId({ id: '-x', username: null }), false, '%u does not become empty');
  assert.equal(access.allowsClientId({ id: 'a.b', username: 'a*b' }), false, 'a user name is matched literally');
  assert.equal(AccessControl.fromConfig(auth()).allowsClientId({ id: 'anything', username: null }), true);
  assert.throws(() => AccessControl.fromConfig(auth({ clientIds: ['dev/%u'] })), /mqtt\.auth\.clientIds\[0\]/);
});

test('reading at delivery: a topic is readable when a granted subscribe filter matches it', () => {
  const access = AccessControl.fromConfig(auth({ acl: [{ user: '*', publish: [], subscribe: ['dev/%u/#'] }] }));
  assert.equal(access.canRead({ id: 'x', username: 'press-a' }, 'dev/press-a/temp'), true);
  assert.equal(access.canRead({ id: 'x', username: 'press-b' }, 'dev/press-a/temp'), false);
  assert.equal(AccessControl.fromConfig(auth()).canRead({ id: 'x', username: null }, 'anything'), true);
});
