// Temperature/humidity sensor on a factory floor: a daily cycle peaking mid-afternoon, slow drift,
// small noise; relative humidity falls as the air warms.
import { Drift, dayFraction, type Profile } from './profile.js';

export const climate: Profile = {
  name: 'climate',
  short: 'th',
  id: 1,
  fields: [
    { name: 'temperature', unit: '°C', type: 'f32', min: -40, max: 85, decimals: 2 },
    { name: 'humidity', unit: '%RH', type: 'f32', min: 0, max: 100, decimals: 1 },
  ],
  faults: [],
  create(random, site) {
    const base = random.between(18, 26);
    const amplitude = random.between(1.5, 5);
    const baseHumidity = random.between(35, 60);
    const tempDrift = new Drift(random, 0.8, 3 * 3600);
    const humidityDrift = new Drift(random, 3, 2 * 3600);
    return {
      sample(timeMs, dt) {
        // Warmest at 15:00 local time.
        const cycle = amplitude * Math.cos(2 * Math.PI * (dayFraction(timeMs, site) - 15 / 24));
        const temperature = base + cycle + tempDrift.step(dt) + random.gaussian(0, 0.05);
        const humidity = baseHumidity - 1.8 * (temperature - base) + humidityDrift.step(dt) + random.gaussian(0, 0.3);
        return { temperature, humidity };
      },
    };
  },
};
