// Who the devices are: id, profile, site, line and topic of each, all drawn from the seed so that
// the same --seed gives the same fleet.
import { Random } from './random.js';
import { SITES, type Profile, type Site } from './profiles/index.js';

export interface DeviceIdentity {
  index: number;
  id: string;
  profile: Profile;
  site: Site;
  line: string;
  topic: string;
}

export function planFleet(devices: number, profiles: readonly Profile[], topicPattern: string, seed: string): DeviceIdentity[] {
  const random = Random.derive(seed, 'fleet');
  const width = Math.max(4, String(devices).length);
  return Array.from({ length: devices }, (_, index) => {
    const profile = profiles[index % profiles.length]!;
    const site = random.pick(SITES);
    const line = `line-${random.int(1, 4)}`;
    const id = `${profile.short}-${String(index + 1).padStart(width, '0')}`;
    const topic = topicPattern.replace(/\{(site|line|device|profile|n)\}/g, (_, key: string) =>
      key === 'site' ? site.name : key === 'line' ? line : key === 'device' ? id : key === 'profile' ? profile.name : String(index + 1),
    );
    return { index, id, profile, site, line, topic };
  });
}
