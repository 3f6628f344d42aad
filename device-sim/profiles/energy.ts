// Three-phase energy meter of a production line: power follows the shift pattern (busy 06:00-22:00,
// a base load at night), the counter only goes up, and the grid now and then sags.
import { Drift, dayFraction, type Profile } from './profile.js';

export const energy: Profile = {
  name: 'energy',
  short: 'em',
  id: 4,
  fields: [
    { name: 'voltage', unit: 'V', type: 'f32', min: 0, max: 300, decimals: 1 },
    { name: 'current', unit: 'A', type: 'f32', min: 0, max: 2000, decimals: 2 },
    { name: 'power', unit: 'kW', type: 'f32', min: 0, max: 1000, decimals: 2 },
    { name: 'powerFactor', unit: '', type: 'f32', min: 0, max: 1, decimals: 3 },
    { name: 'energy', unit: 'kWh', type: 'f64', min: 0, max: Number.MAX_SAFE_INTEGER, decimals: 3, monotonic: true },
  ],
  faults: [{ name: 'voltage-sag', samples: [1, 10] }],
  create(random, site) {
    const baseLoad = random.between(5, 40);
    const shiftLoad = baseLoad * random.between(2, 6);
    const nominal = random.pick([230, 230, 240, 220]);
    const pfBase = random.between(0.86, 0.97);
    const loadDrift = new Drift(random, 0.05, 600);
    let energyKwh = random.between(1_000, 500_000);
    return {
      sample(timeMs, dt, fault) {
        const hour = dayFraction(timeMs, site) * 24;
        const shift = hour >= 6 && hour < 22 ? 1 : 0;
        const power = Math.max(0, (baseLoad + shift * shiftLoad) * (1 + loadDrift.step(dt)) * (1 + random.gaussian(0, 0.03)));
        const voltage = fault === 'voltage-sag' ? nominal * random.between(0.7, 0.9) : nominal + random.gaussian(0, 1.5);
        const powerFactor = Math.min(0.999, pfBase + random.gaussian(0, 0.01));
        // Per-phase current of a balanced three-phase load.
        const current = (power * 1000) / (3 * voltage * powerFactor);
        energyKwh += (power * dt) / 3600;
        return { voltage, current, power, powerFactor, energy: energyKwh };
      },
    };
  },
};
