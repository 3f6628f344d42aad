// Vibration sensor on a motor or pump: a steady baseline broken by bursts (a load change, a
// cavitating pump) several times louder, and now and then bearing wear that raises the baseline.
import { Drift, type Profile } from './profile.js';

export const vibration: Profile = {
  name: 'vibration',
  short: 'vib',
  id: 2,
  fields: [
    { name: 'rms', unit: 'mm/s', type: 'f32', min: 0, max: 50, decimals: 3 },
    { name: 'peak', unit: 'mm/s', type: 'f32', min: 0, max: 200, decimals: 3 },
    { name: 'frequency', unit: 'Hz', type: 'f32', min: 0, max: 1000, decimals: 2 },
    { name: 'temperature', unit: '°C', type: 'f32', min: -20, max: 150, decimals: 1 },
  ],
  faults: [{ name: 'bearing-wear', samples: [50, 400] }],
  create(random) {
    const baseline = random.between(0.8, 2.5);
    const shaftHz = random.pick([24.6, 29.5, 49.2, 59.1]);
    const baseTemp = random.between(35, 55);
    const drift = new Drift(random, 0.1, 1800);
    let burstLeft = 0;
    let burstGain = 1;
    let wear = 0;
    return {
      sample(_timeMs, dt, fault) {
        // Bursts: a Markov switch, about 2 % of samples start one, lasting ~3-30 samples.
        if (burstLeft > 0) burstLeft--;
        else if (random.chance(0.02)) {
          burstLeft = random.int(3, 30);
          burstGain = random.between(3, 8);
        }
        const bursting = burstLeft > 0;
        wear = fault === 'bearing-wear' ? Math.min(wear + 0.02, 6) : wear * 0.98;
        const rms = Math.max(0, (baseline + drift.step(dt) + wear) * (bursting ? burstGain : 1) + random.gaussian(0, 0.05));
        const crest = bursting ? random.between(3, 6) : random.between(1.4, 1.8);
        // A worn bearing shows at its defect frequency, a non-integer multiple of shaft speed.
        const frequency = (wear > 1 ? shaftHz * 3.57 : bursting ? shaftHz * 2 : shaftHz) + random.gaussian(0, 0.1);
        const temperature = baseTemp + 2 * rms + random.gaussian(0, 0.2);
        return { rms, peak: rms * crest, frequency, temperature };
      },
    };
  },
};
