// Payload encodings: JSON carries device, sequence and rounded values; the binary layout
// round-trips, is compact, and marks missing values as NaN.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBinary, encodeBinary, encodeJson } from '../../device-sim/encoding.js';
import { PROFILES, profileNamed } from '../../device-sim/profiles/index.js';
import type { Reading } from '../../device-sim/sensor.js';

const ts = Date.UTC(2026, 10, 25, 12, 0, 0, 123);

test('JSON: device, seq, timestamp, profile, rounded fields; fault only when there is one', () => {
  const climate = profileNamed('climate')!;
  const reading: Reading = { timeMs: ts, values: { temperature: 21.456789, humidity: 48.04 }, fault: null };
  assert.deepEqual(JSON.parse(encodeJson('th-0001', 7, reading, climate).toString()), { device: 'th-0001', seq: 7, ts, profile: 'climate', temperature: 21.46, humidity: 48 });
  const faulty = JSON.parse(encodeJson('th-0001', 8, { timeMs: ts, values: { temperature: null, humidity: null }, fault: 'dropout' }, climate).toString());
  assert.equal(faulty.fault, 'dropout');
  assert.equal(faulty.temperature, null);
});

test('binary: round-trips every profile; 14 header bytes plus 4 or 8 per field; NaN = no value', () => {
  for (const profile of PROFILES) {
    const values = Object.fromEntries(profile.fields.map((f, i) => [f.name, f.type === 'f64' ? 52.123456789 + i : 2.5 * i]));
    const payload = encodeBinary(123_456, { timeMs: ts, values, fault: 'spike' }, profile);
    assert.equal(payload.length, 14 + profile.fields.reduce((n, f) => n + (f.type === 'f64' ? 8 : 4), 0));
    assert.deepEqual(decodeBinary(payload), { profile: profile.name, seq: 123_456, timeMs: ts, fault: 'spike', values });
  }
  const climate = profileNamed('climate')!;
  const dropout = encodeBinary(1, { timeMs: ts, values: { temperature: null, humidity: null }, fault: 'dropout' }, climate);
  assert.equal(dropout.length, 22);
  assert.deepEqual(decodeBinary(dropout).values, { temperature: null, humidity: null });
  assert.throws(() => decodeBinary(Buffer.from('{"json":1}')), /not a version 1 simulator payload/);
  assert.throws(() => decodeBinary(dropout.subarray(0, 18)), /truncated/);
});
