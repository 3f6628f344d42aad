// The sensor profiles: every reading stays in its sensor's range through faults and a whole
// simulated day, the same seed gives the same readings, and each profile shows its own character
// (daily cycle, bursts, movement, a counter that only goes up).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROFILES, SITES, profileNamed } from '../../device-sim/profiles/index.js';
import { planFleet } from '../../device-sim/fleet-plan.js';
import { Random } from '../../device-sim/random.js';
import { FAULT_CODES, Sensor, type Reading } from '../../device-sim/sensor.js';

const START = Date.UTC(2026, 0, 5, 0, 0, 0); // a Monday, midnight UTC
const berlin = SITES[0]!;

/** A day of readings, one per `stepS` seconds. */
function day(profileName: string, seed: string, faultRate: number, stepS = 10): Reading[] {
  const profile = profileNamed(profileName)!;
  const sensor = new Sensor(profile, new Random(seed), berlin, START, faultRate);
  return Array.from({ length: 86_400 / stepS }, (_, i) => sensor.read(START + i * stepS * 1000));
}

test('every profile stays within its sensor ranges, also with frequent faults', () => {
  for (const profile of PROFILES) {
    for (const seed of ['a', 'b', 'c']) {
      const faults = new Set<string>();
      for (const reading of day(profile.name, seed, 0.05)) {
        if (reading.fault !== null) faults.add(reading.fault);
        for (const f of profile.fields) {
          const v = reading.values[f.name];
          assert.ok(v === null || (v !== undefined && Number.isFinite(v) && v >= f.min && v <= f.max), `${profile.name}.${f.name} = ${v} outside [${f.min}, ${f.max}]`);
        }
      }
      for (const fault of faults) assert.ok(fault in FAULT_CODES, `fault ${fault} has a binary code`);
      assert.ok(faults.has('spike') && faults.has('stuck') && faults.has('dropout'), `${profile.name}: common faults occur (${[...faults]})`);
      for (const own of profile.faults) assert.ok(faults.has(own.name), `${profile.name}: its own fault ${own.name} occurs`);
    }
  }
});

test('the same seed gives the same readings; another seed gives others', () => {
  for (const profile of PROFILES) {
    assert.deepEqual(day(profile.name, '42', 0.01, 60), day(profile.name, '42', 0.01, 60), `${profile.name} is deterministic`);
    assert.notDeepEqual(day(profile.name, '42', 0.01, 60), day(profile.name, '43', 0.01, 60), `${profile.name} depends on the seed`);
  }
  const a = new Random('x');
  const b = new Random('x');
  assert.deepEqual(Array.from({ length: 5 }, () => a.next()), Array.from({ length: 5 }, () => b.next()));
});

test('a dropout has no values, a stuck sensor repeats its last reading', () => {
  const readings = day('climate', 'faults', 0.05);
  const dropout = readings.find((r) => r.fault === 'dropout')!;
  assert.deepEqual(dropout.values, { temperature: null, humidity: null });
  const stuckAt = readings.findIndex((r, i) => r.fault === 'stuck' && readings[i + 1]?.fault === 'stuck');
  assert.deepEqual(readings[stuckAt + 1]!.values, readings[stuckAt]!.values);
});

test('climate: warmer in the afternoon than at night, humidity moves the other way', () => {
  const readings = day('climate', 'cycle', 0, 60);
  // Berlin is UTC+1: 14:00-16:00 UTC is mid-afternoon, 02:00-04:00 UTC the small hours.
  const mean = (from: number, to: number, field: string): number => {
    const xs = readings.filter((r) => (r.timeMs - START) / 3_600_000 >= from && (r.timeMs - START) / 3_600_000 < to).map((r) => r.values[field]!);
    return xs.reduce((s, x) => s + x, 0) / xs.length;
  };
  assert.ok(mean(13, 15, 'temperature') > mean(1, 3, 'temperature') + 1, 'a daily temperature cycle');
  assert.ok(mean(13, 15, 'humidity') < mean(1, 3, 'humidity'), 'humidity falls as it warms');
});

test('vibration comes in bursts well above its baseline', () => {
  const rms = day('vibration', 'bursts', 0).map((r) => r.values.rms!);
  const sorted = [...rms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const bursts = rms.filter((x) => x > 2.5 * median).length;
  assert.ok(bursts > rms.length * 0.05 && bursts < rms.length * 0.6, `${bursts} of ${rms.length} samples in bursts`);
});

test('gps moves around its site at vehicle speeds; energy counts up and follows the shifts', () => {
  const track = day('gps', 'track', 0);
  const distanceKm = Math.hypot(track.at(-1)!.values.lat! - track[0]!.values.lat!, track.at(-1)!.values.lon! - track[0]!.values.lon!) * 111;
  assert.ok(track.some((r) => r.values.speed! > 5), 'it drives');
  assert.ok(track.some((r) => r.values.speed! < 1), 'it stops');
  assert.ok(distanceKm > 0.01 && distanceKm < 2000, `it stays in the region (${distanceKm.toFixed(1)} km)`);

  const meter = day('energy', 'meter', 0, 60);
  for (let i = 1; i < meter.length; i++) assert.ok(meter[i]!.values.energy! >= meter[i - 1]!.values.energy!, 'the energy counter never goes down');
  const power = (hourUtc: number): number => meter[hourUtc * 60]!.values.power!;
  assert.ok(power(11) > power(2), 'more power during the shift than at night');
});

test('the fleet plan: the same seed gives the same devices, sites, lines and topics', () => {
  const plan = (seed: string): string[] => planFleet(40, PROFILES, 'factory/{site}/{line}/{device}/{profile}/{n}', seed).map((d) => d.topic);
  assert.deepEqual(plan('s1'), plan('s1'));
  assert.notDeepEqual(plan('s1'), plan('s2'));
  const topics = plan('s1');
  assert.equal(new Set(topics).size, 40, 'one topic per device');
  assert.match(topics[0]!, /^factory\/[a-z]+\/line-[1-4]\/th-0001\/climate\/1$/);
  assert.match(topics[3]!, /\/em-0004\/energy\/4$/);
});
