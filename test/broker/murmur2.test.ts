import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { murmur2 as platformaticMurmur2 } from '@platformatic/kafka';
import { KeylessSpreader, murmur2, partitionForKey, toPositive } from '../../broker/murmur2.js';

test("murmur2 matches the Java client's vectors (Kafka UtilsTest.testMurmur2)", () => {
  const cases: Array<[Uint8Array, number]> = [
    [Buffer.from('21'), -973932308],
    [Buffer.from('foobar'), -790332482],
    [Buffer.from('a-little-bit-long-string'), -985981536],
    [Buffer.from('a-little-bit-longer-string'), -1486304829],
    [Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
    [Buffer.from('abc'), 479470107],
  ];
  for (const [key, expected] of cases) assert.equal(murmur2(key), expected, Buffer.from(key).toString());
});

test('murmur2 agrees with an independent implementation (@platformatic/kafka) on random keys of every length', () => {
  for (let i = 0; i < 3000; i++) {
    const key = randomBytes(i % 67);
    assert.equal(murmur2(key), platformaticMurmur2(key), key.toString('hex'));
  }
});

test('partitionForKey is toPositive(murmur2) mod n, never negative', () => {
  assert.equal(toPositive(-2147483648), 0, 'MIN_VALUE, where Math.abs would stay negative');
  assert.equal(toPositive(-973932308), -973932308 & 0x7fffffff);
  assert.equal(partitionForKey(Buffer.from('21'), 7), (-973932308 & 0x7fffffff) % 7);
  for (let i = 0; i < 1000; i++) {
    const p = partitionForKey(randomBytes(8), 5);
    assert.ok(p >= 0 && p < 5);
  }
});

test('records without a key are spread evenly, per topic', () => {
  const spreader = new KeylessSpreader();
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[spreader.next('a', 3)]!++;
  assert.deepEqual(counts, [100, 100, 100]);
  assert.equal(spreader.next('b', 3), 0, 'another topic has its own turn');
});
