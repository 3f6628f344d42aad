// Loopback hosts: the HTTP API is open on them only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackHost } from '../../../bridge/shared/loopback.js';

test('loopback hosts are told apart from the rest', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'gateway.local', '128.0.0.1', '::ffff:10.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
});
