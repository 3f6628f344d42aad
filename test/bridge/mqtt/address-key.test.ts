// What per-address connection limits count by: an IPv4 address, or an IPv6 /64.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey } from '../../../bridge/mqtt/address-key.js';

test('IPv4 addresses count alone, also IPv4-mapped; IPv6 addresses count by their /64', () => {
  assert.equal(addressKey('10.0.0.7'), '10.0.0.7');
  assert.equal(addressKey('::ffff:10.0.0.7'), '10.0.0.7');
  assert.equal(addressKey('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'the same /64, written in full');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:db8:0:0:1::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:db8:0:1::1'), '2001:db8:0:1::/64', 'another /64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(addressKey(undefined), '?');
});
