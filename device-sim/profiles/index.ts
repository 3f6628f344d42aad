import { climate } from './climate.js';
import { energy } from './energy.js';
import { gps } from './gps.js';
import type { Profile, Site } from './profile.js';
import { vibration } from './vibration.js';

export type { FieldSpec, Profile, Site } from './profile.js';

export const PROFILES: readonly Profile[] = [climate, vibration, gps, energy];

export function profileNamed(name: string): Profile | undefined {
  return PROFILES.find((p) => p.name === name);
}

/** The sites devices are spread over (position and time zone drive GPS and daily cycles). */
export const SITES: readonly Site[] = [
  { name: 'berlin', lat: 52.52, lon: 13.405, utcOffsetHours: 1 },
  { name: 'lyon', lat: 45.764, lon: 4.8357, utcOffsetHours: 1 },
  { name: 'austin', lat: 30.2672, lon: -97.7431, utcOffsetHours: -6 },
  { name: 'pune', lat: 18.5204, lon: 73.8567, utcOffsetHours: 5.5 },
  { name: 'nagoya', lat: 35.1815, lon: 136.9066, utcOffsetHours: 9 },
];
