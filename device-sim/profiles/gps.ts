// GPS tracker on a forklift or yard truck around its site: drives at a changing speed and heading,
// stops for a while, and sometimes loses its fix or reports a position that jumps away.
import { clamp, type Profile } from './profile.js';

const METRES_PER_DEGREE = 111_320;

export const gps: Profile = {
  name: 'gps',
  short: 'gps',
  id: 3,
  fields: [
    { name: 'lat', unit: '°', type: 'f64', min: -90, max: 90, decimals: 6 },
    { name: 'lon', unit: '°', type: 'f64', min: -180, max: 180, decimals: 6 },
    { name: 'speed', unit: 'km/h', type: 'f32', min: 0, max: 200, decimals: 1 },
    { name: 'heading', unit: '°', type: 'f32', min: 0, max: 360, decimals: 1 },
    { name: 'altitude', unit: 'm', type: 'f32', min: -500, max: 9000, decimals: 1 },
    { name: 'satellites', unit: '', type: 'f32', min: 0, max: 32, decimals: 0 },
  ],
  faults: [
    { name: 'no-fix', samples: [5, 60] },
    { name: 'jump', samples: [1, 3] },
  ],
  create(random, site) {
    // Start somewhere within ~2 km of the site.
    let lat = site.lat + random.gaussian(0, 0.01);
    let lon = site.lon + random.gaussian(0, 0.01);
    let heading = random.between(0, 360);
    let speed = 0;
    let target = random.between(8, 40);
    let stoppedFor = 0;
    const altitude = random.between(20, 400);
    return {
      sample(_timeMs, dt, fault) {
        if (stoppedFor > 0) {
          stoppedFor = Math.max(0, stoppedFor - dt);
          target = 0;
        } else if (random.chance(0.01)) {
          stoppedFor = random.between(10, 300);
        } else if (target === 0 || random.chance(0.05)) {
          target = random.between(8, 40);
        }
        speed = clamp(speed + clamp(target - speed, -8 * dt, 8 * dt) + random.gaussian(0, 0.5), 0, 60);
        heading = (heading + random.gaussian(0, speed > 0 ? 8 : 0) + 360) % 360;
        const metres = (speed / 3.6) * dt;
        const rad = (heading * Math.PI) / 180;
        lat = clamp(lat + (metres * Math.cos(rad)) / METRES_PER_DEGREE, -89.9, 89.9);
        lon = lon + (metres * Math.sin(rad)) / (METRES_PER_DEGREE * Math.cos((lat * Math.PI) / 180));
        lon = ((((lon + 180) % 360) + 360) % 360) - 180;
        // Receiver noise of a few metres; a jump is a multipath error of hundreds.
        const noise = fault === 'jump' ? 0.005 : 0.00003;
        return {
          lat: clamp(lat + random.gaussian(0, noise), -90, 90),
          lon: clamp(lon + random.gaussian(0, noise), -180, 180),
          speed: fault === 'no-fix' ? 0 : speed,
          heading,
          altitude: altitude + random.gaussian(0, 2),
          satellites: fault === 'no-fix' ? random.int(0, 3) : random.int(6, 14),
        };
      },
    };
  },
};
