// Payload encodings. JSON is the default: readable, self-describing, what most fleets send.
// The binary encoding is for links where bytes cost money (cellular, LoRa backhaul):
//
//   offset  size  field
//        0     1  format version, 1
//        1     1  profile id (1 climate, 2 vibration, 3 gps, 4 energy)
//        2     1  fault code (0 none, 1 spike, 2 stuck, 3 dropout, 4 bearing-wear, 5 no-fix,
//                 6 jump, 7 voltage-sag)
//        3     1  number of fields n
//        4     4  per-device sequence number, uint32 big-endian
//        8     6  timestamp, milliseconds since the Unix epoch, uint48 big-endian
//       14     …  n values in the profile's field order, each float32 or float64 big-endian as
//                 the profile declares (docs/simulator.md lists them); NaN = no value (dropout)
//
// A climate reading is 22 bytes in binary against about 95 in JSON. The device id is not in the
// payload: it is in the topic.
import { FAULT_CODES, type Reading } from './sensor.js';
import { PROFILES, type Profile } from './profiles/index.js';

export type PayloadFormat = 'json' | 'binary';

export const BINARY_VERSION = 1;
const HEADER_BYTES = 14;

const POWERS = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

function round(value: number, decimals: number): number {
  const scale = POWERS[decimals] ?? 10 ** decimals;
  return Math.round(value * scale) / scale;
}

export function encodeJson(device: string, seq: number, reading: Reading, profile: Profile): Buffer {
  const body: Record<string, unknown> = { device, seq, ts: reading.timeMs, profile: profile.name };
  for (const f of profile.fields) {
    const v = reading.values[f.name];
    body[f.name] = v === null || v === undefined ? null : round(v, f.decimals);
  }
  if (reading.fault !== null) body.fault = reading.fault;
  return Buffer.from(JSON.stringify(body));
}

export function encodeBinary(seq: number, reading: Reading, profile: Profile): Buffer {
  const size = HEADER_BYTES + profile.fields.reduce((n, f) => n + (f.type === 'f64' ? 8 : 4), 0);
  const out = Buffer.allocUnsafe(size);
  out[0] = BINARY_VERSION;
  out[1] = profile.id;
  out[2] = reading.fault === null ? 0 : (FAULT_CODES[reading.fault] ?? 0);
  out[3] = profile.fields.length;
  out.writeUInt32BE(seq >>> 0, 4);
  out.writeUIntBE(reading.timeMs, 8, 6);
  let at = HEADER_BYTES;
  for (const f of profile.fields) {
    const v = reading.values[f.name] ?? Number.NaN;
    if (f.type === 'f64') at = out.writeDoubleBE(v, at);
    else at = out.writeFloatBE(v, at);
  }
  return out;
}

export interface DecodedBinary {
  profile: string;
  seq: number;
  timeMs: number;
  fault: string | null;
  values: Record<string, number | null>;
}

/** The reverse of encodeBinary, for consumers and tests; throws on a payload it cannot read. */
export function decodeBinary(payload: Buffer): DecodedBinary {
  if (payload.length < HEADER_BYTES || payload[0] !== BINARY_VERSION) throw new Error('not a version 1 simulator payload');
  const profile = PROFILES.find((p) => p.id === payload[1]);
  if (profile === undefined || payload[3] !== profile.fields.length) throw new Error(`unknown profile id ${payload[1]}`);
  const faultCode = payload[2]!;
  const fault = faultCode === 0 ? null : (Object.entries(FAULT_CODES).find(([, code]) => code === faultCode)?.[0] ?? `fault-${faultCode}`);
  const values: Record<string, number | null> = {};
  let at = HEADER_BYTES;
  for (const f of profile.fields) {
    if (payload.length < at + (f.type === 'f64' ? 8 : 4)) throw new Error('truncated simulator payload');
    const v = f.type === 'f64' ? payload.readDoubleBE(at) : payload.readFloatBE(at);
    at += f.type === 'f64' ? 8 : 4;
    values[f.name] = Number.isNaN(v) ? null : v;
  }
  return { profile: profile.name, seq: payload.readUInt32BE(4), timeMs: payload.readUIntBE(8, 6), fault, values };
}
