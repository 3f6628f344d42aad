// One simulated sensor: a profile's model plus the faults every real sensor has. An episode
// starts on a sample with probability `faultRate` and lasts a profile-given number of samples:
// a spike (one reading far off), a stuck sensor (the same reading again and again), a dropout (no
// values), or a profile's own fault (bearing wear, loss of GPS fix, a voltage sag).
import type { Random } from './random.js';
import type { FaultKind, Profile, ProfileModel, Site } from './profiles/profile.js';
import { clamp, elapsedS } from './profiles/profile.js';

/** Fault codes in the binary encoding (0 = none); the names appear as `fault` in JSON. */
export const FAULT_CODES: Readonly<Record<string, number>> = {
  spike: 1,
  stuck: 2,
  dropout: 3,
  'bearing-wear': 4,
  'no-fix': 5,
  jump: 6,
  'voltage-sag': 7,
};

const COMMON_FAULTS: readonly FaultKind[] = [
  { name: 'spike', samples: [1, 1] },
  { name: 'stuck', samples: [5, 30] },
  { name: 'dropout', samples: [3, 20] },
];

export interface Reading {
  timeMs: number;
  /** Field name -> value; null while the sensor drops out. */
  values: Record<string, number | null>;
  /** The fault active on this sample, if any. */
  fault: string | null;
}

export class Sensor {
  readonly #model: ProfileModel;
  readonly #faults: readonly FaultKind[];
  #fault: string | null = null;
  #faultLeft = 0;
  #previous: Record<string, number> | null = null;
  #lastMs: number;

  constructor(
    readonly profile: Profile,
    private readonly random: Random,
    site: Site,
    startMs: number,
    private readonly faultRate: number,
  ) {
    this.#model = profile.create(random, site);
    this.#lastMs = startMs;
    this.#faults = [...COMMON_FAULTS, ...profile.faults];
  }

  read(timeMs: number): Reading {
    this.#advanceFault();
    const fault = this.#fault;
    // The model runs on every sample, faulty or not, so that its clock and state stay continuous.
    const modelled = this.#model.sample(timeMs, elapsedS(this.#lastMs, timeMs), fault);
    this.#lastMs = timeMs;
    let values: Record<string, number | null>;
    if (fault === 'dropout') values = Object.fromEntries(this.profile.fields.map((f) => [f.name, null]));
    else if (fault === 'stuck' && this.#previous !== null) values = { ...this.#previous };
    else {
      const clamped = this.#clamp(fault === 'spike' ? this.#spike(modelled) : modelled);
      this.#previous = clamped;
      values = clamped;
    }
    return { timeMs, values, fault };
  }

  #advanceFault(): void {
    if (this.#faultLeft > 0) this.#faultLeft--;
    if (this.#faultLeft === 0) this.#fault = null;
    if (this.#fault === null && this.faultRate > 0 && this.random.chance(this.faultRate)) {
      const kind = this.random.pick(this.#faults);
      this.#fault = kind.name;
      this.#faultLeft = this.random.int(kind.samples[0], kind.samples[1]);
    }
  }

  /** One non-counter field jumps by 10-30 % of its range (still within it). */
  #spike(values: Record<string, number>): Record<string, number> {
    const field = this.random.pick(this.profile.fields.filter((f) => f.monotonic !== true));
    const span = Math.min(field.max - field.min, 1000);
    const jump = span * this.random.between(0.1, 0.3) * (this.random.chance(0.5) ? 1 : -1);
    return { ...values, [field.name]: values[field.name]! + jump };
  }

  #clamp(values: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.profile.fields) out[f.name] = clamp(values[f.name]!, f.min, f.max);
    return out;
  }
}
