// What a sensor profile is: named fields with units, sensor ranges and an encoding type, and a
// model that turns (time, current fault) into values. Faults that any sensor has (spikes, stuck
// readings, dropouts) are applied outside the profiles, in sensor.ts.
import type { Random } from '../random.js';

export interface FieldSpec {
  name: string;
  unit: string;
  /** Binary encoding of the field (see encoding.ts). */
  type: 'f32' | 'f64';
  /** The sensor's physical range: no reading ever leaves it. */
  min: number;
  max: number;
  /** Decimals kept in JSON. */
  decimals: number;
  /** A counter that only goes up: spikes leave it alone. */
  monotonic?: boolean;
}

/** Where a device stands: its site's position and time zone drive daily cycles and GPS. */
export interface Site {
  name: string;
  lat: number;
  lon: number;
  utcOffsetHours: number;
}

/** A fault episode a profile models itself (on top of the common ones). */
export interface FaultKind {
  name: string;
  /** Samples an episode lasts, inclusive range. */
  samples: [number, number];
}

export interface ProfileModel {
  /**
   * Values at `timeMs`, `dtS` seconds after the previous sample, while `fault` (a name from the
   * profile's faults, or null) is active.
   */
  sample(timeMs: number, dtS: number, fault: string | null): Record<string, number>;
}

export interface Profile {
  name: string;
  /** Short prefix of device ids (`th-0001`). */
  short: string;
  /** Profile id in the binary encoding. */
  id: number;
  fields: readonly FieldSpec[];
  faults: readonly FaultKind[];
  create(random: Random, site: Site): ProfileModel;
}

/** Fraction of the local day in [0, 1): 0 is midnight at the site. */
export function dayFraction(timeMs: number, site: Site): number {
  const day = (timeMs / 86_400_000 + site.utcOffsetHours / 24) % 1;
  return day < 0 ? day + 1 : day;
}

/**
 * A slow mean-reverting random walk (Ornstein-Uhlenbeck): sensor drift that wanders but does not
 * run away. `sd` is the long-run standard deviation, `halfLifeS` how fast it reverts.
 */
export class Drift {
  value = 0;
  constructor(
    private readonly random: Random,
    private readonly sd: number,
    private readonly halfLifeS: number,
  ) {}

  step(dtS: number): number {
    const theta = Math.LN2 / this.halfLifeS;
    const decay = Math.exp(-theta * dtS);
    this.value = this.value * decay + this.random.gaussian(0, this.sd * Math.sqrt(1 - decay * decay));
    return this.value;
  }
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** Seconds since the previous sample, bounded so that a pause does not make a model jump. */
export function elapsedS(previousMs: number, timeMs: number): number {
  return clamp((timeMs - previousMs) / 1000, 0, 3600);
}
