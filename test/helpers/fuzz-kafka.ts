// Request generators for fuzzing the Kafka endpoint: well-formed requests of every API and
// version it serves (encoded here from the protocol's grammar), then mangled: bytes flipped,
// the frame cut short or lengthened, the header's key or version changed; and raw noise with and
// without a plausible length prefix. A Fetch template never asks to wait, but a flipped byte may
// make it: the fuzzer treats a request that is still being answered as parked and moves on.
import { Writer } from '../../bridge/kafka/protocol/writer.js';
import { topicId } from '../../bridge/kafka/topic-ids.js';
import type { Rng } from './fuzz.js';

const bytes = (w: Writer): Buffer => Buffer.concat(w.chunks());

/** A request header (v1, or v2 when flexible) and body, without the size prefix. */
function request(apiKey: number, version: number, flexible: boolean, body: Buffer, correlationId: number): Buffer {
  const w = new Writer().int16(apiKey).int16(version).int32(correlationId).string('fuzz', false);
  if (flexible) w.taggedFields();
  return Buffer.concat([...w.chunks(), body]);
}

function apiVersions(v: number): Buffer {
  return v >= 3 ? bytes(new Writer().string('fuzz', true).string('1', true).taggedFields()) : Buffer.alloc(0);
}

function metadata(v: number, rng: Rng): Buffer {
  const f = v >= 9;
  const w = new Writer();
  const names = rng.chance(0.3) ? null : rng.pick([['mqtt'], ['mqtt', 'missing'], [], ['bad name!']]);
  if (names === null && v === 0) w.array([], f, () => undefined);
  else {
    w.array(names, f, (w, name) => {
      if (v >= 10) w.uuid(rng.chance(0.5) ? topicId(name) : Buffer.alloc(16));
      w.string(name, f);
      if (f) w.taggedFields();
    });
  }
  if (v >= 4) w.bool(true);
  if (v >= 8 && v <= 10) w.bool(false);
  if (v >= 8) w.bool(rng.chance(0.5));
  if (f) w.taggedFields();
  return bytes(w);
}

function listOffsets(v: number, rng: Rng): Buffer {
  const f = v >= 6;
  const w = new Writer().int32(-1);
  if (v >= 2) w.int8(rng.int(2));
  w.array([rng.pick(['mqtt', 'missing'])], f, (w, name) => {
    w.string(name, f);
    w.array([rng.int(3)], f, (w, index) => {
      w.int32(index);
      if (v >= 4) w.int32(rng.pick([-1, 0, 5]));
      w.int64(rng.pick([-1, -2, -3, 0, Date.now(), 1e12]));
      if (f) w.taggedFields();
    });
    if (f) w.taggedFields();
  });
  if (f) w.taggedFields();
  return bytes(w);
}

function fetch(v: number, rng: Rng): Buffer {
  const f = v >= 12;
  const w = new Writer();
  if (v <= 14) w.int32(-1);
  w.int32(0).int32(rng.pick([0, 1])).int32(rng.pick([1, 1024, 0x7fffffff])).int8(rng.int(2));
  if (v >= 7) w.int32(rng.chance(0.9) ? 0 : 7).int32(rng.pick([-1, 0]));
  w.array([rng.pick(['mqtt', 'missing'])], f, (w, name) => {
    if (v >= 13) w.uuid(topicId(name));
    else w.string(name, f);
    w.array([rng.int(3)], f, (w, index) => {
      w.int32(index);
      if (v >= 9) w.int32(rng.pick([-1, 0, 3]));
      w.int64(rng.pick([0, 1, 5, 1000]));
      if (v >= 12) w.int32(rng.pick([-1, 0, 2]));
      if (v >= 5) w.int64(-1);
      w.int32(rng.pick([1, 100, 1 << 20]));
      if (f) w.taggedFields();
    });
    if (f) w.taggedFields();
  });
  if (v >= 7) w.array([], f, () => undefined);
  if (v >= 11) w.string('', f);
  if (f) w.taggedFields();
  return bytes(w);
}

function produce(v: number, rng: Rng): Buffer {
  const f = v >= 9;
  const w = new Writer().string(null, f).int16(rng.pick([0, 1, -1])).int32(1000);
  w.array(['mqtt'], f, (w, name) => {
    w.string(name, f);
    w.array([0], f, (w, index) => {
      w.int32(index);
      const records = rng.bytes(rng.int(40));
      if (f) w.uvarint(records.length + 1);
      else w.int32(records.length);
      w.bytes(records);
      if (f) w.taggedFields();
    });
    if (f) w.taggedFields();
  });
  if (f) w.taggedFields();
  return bytes(w);
}

function initProducerId(v: number, rng: Rng): Buffer {
  const f = v >= 2;
  const w = new Writer().string(rng.pick([null, 'tx']), f).int32(60_000);
  if (v >= 3) w.int64(-1).int16(-1);
  if (f) w.taggedFields();
  return bytes(w);
}

// The consumer-group APIs, with group and member ids a client would send (or none).
const groupId = (rng: Rng): string => rng.pick(['fuzz-group', '', 'other']);
const memberId = (rng: Rng): string => rng.pick(['', 'fuzz-member', 'rdkafka-0']);

function findCoordinator(v: number, rng: Rng): Buffer {
  const f = v >= 3;
  const w = new Writer();
  if (v <= 3) w.string(groupId(rng), f);
  if (v >= 1) w.int8(rng.pick([0, 1, 2]));
  if (v >= 4) w.array([groupId(rng), 'b'], f, (w, k) => w.string(k, f));
  if (f) w.taggedFields();
  return bytes(w);
}

function joinGroup(v: number, rng: Rng): Buffer {
  const f = v >= 6;
  const w = new Writer().string(groupId(rng), f).int32(rng.pick([6000, 10, 45000]));
  if (v >= 1) w.int32(rng.pick([0, 1000, 300000]));
  w.string(memberId(rng), f);
  if (v >= 5) w.string(rng.chance(0.8) ? null : 'static-1', f);
  w.string(rng.pick(['consumer', '']), f);
  w.array([rng.pick(['range', 'roundrobin'])], f, (w, name) => {
    w.string(name, f);
    const metadata = rng.bytes(rng.int(20));
    if (f) w.uvarint(metadata.length + 1);
    else w.int32(metadata.length);
    w.bytes(metadata);
    if (f) w.taggedFields();
  });
  if (v >= 8) w.string(null, f);
  if (f) w.taggedFields();
  return bytes(w);
}

function syncGroup(v: number, rng: Rng): Buffer {
  const f = v >= 4;
  const w = new Writer().string(groupId(rng), f).int32(rng.pick([-1, 0, 1])).string(memberId(rng), f);
  if (v >= 3) w.string(null, f);
  if (v >= 5) w.string('consumer', f).string('range', f);
  w.array([memberId(rng)], f, (w, m) => {
    w.string(m, f);
    if (f) w.uvarint(1);
    else w.int32(0);
    if (f) w.taggedFields();
  });
  if (f) w.taggedFields();
  return bytes(w);
}

function heartbeat(v: number, rng: Rng): Buffer {
  const f = v >= 4;
  const w = new Writer().string(groupId(rng), f).int32(rng.pick([-1, 0, 1])).string(memberId(rng), f);
  if (v >= 3) w.string(null, f);
  if (f) w.taggedFields();
  return bytes(w);
}

function leaveGroup(v: number, rng: Rng): Buffer {
  const f = v >= 4;
  const w = new Writer().string(groupId(rng), f);
  if (v <= 2) w.string(memberId(rng), f);
  else {
    w.array([memberId(rng)], f, (w, m) => {
      w.string(m, f).string(null, f);
      if (v >= 5) w.string('fuzz', f);
      if (f) w.taggedFields();
    });
  }
  if (f) w.taggedFields();
  return bytes(w);
}

function offsetCommit(v: number, rng: Rng): Buffer {
  const f = v >= 8;
  const w = new Writer().string(groupId(rng), f);
  if (v >= 1) w.int32(rng.pick([-1, 0, 1])).string(memberId(rng), f);
  if (v >= 7) w.string(null, f);
  if (v >= 2 && v <= 4) w.int64(-1);
  w.array([rng.pick(['mqtt', 'missing'])], f, (w, name) => {
    w.string(name, f);
    w.array([rng.int(3)], f, (w, index) => {
      w.int32(index).int64(rng.pick([0, 1, 5]));
      if (v >= 6) w.int32(-1);
      if (v === 1) w.int64(-1);
      w.string(rng.chance(0.5) ? null : '', f);
      if (f) w.taggedFields();
    });
    if (f) w.taggedFields();
  });
  if (f) w.taggedFields();
  return bytes(w);
}

function offsetFetch(v: number, rng: Rng): Buffer {
  const f = v >= 6;
  const w = new Writer();
  const topics = (w: Writer): void => {
    w.array(rng.chance(0.3) && v >= 2 ? null : [rng.pick(['mqtt', 'missing'])], f, (w, name) => {
      w.string(name, f).array([rng.int(3)], f, (w, p) => w.int32(p));
      if (f) w.taggedFields();
    });
  };
  if (v <= 7) {
    w.string(groupId(rng), f);
    topics(w);
  } else {
    w.array([groupId(rng)], f, (w, g) => {
      w.string(g, f);
      if (v >= 9) w.string(null, f).int32(-1);
      topics(w);
      w.taggedFields();
    });
  }
  if (v >= 7) w.bool(false);
  if (f) w.taggedFields();
  return bytes(w);
}

function listGroups(v: number, rng: Rng): Buffer {
  const f = v >= 3;
  const w = new Writer();
  if (v >= 4) w.array(rng.pick([[], ['Stable'], ['Empty', 'Dead']]), f, (w, s) => w.string(s, f));
  if (v >= 5) w.array(rng.pick([[], ['classic'], ['consumer']]), f, (w, s) => w.string(s, f));
  if (f) w.taggedFields();
  return bytes(w);
}

function describeGroups(v: number, rng: Rng): Buffer {
  const f = v >= 5;
  const w = new Writer().array([groupId(rng)], f, (w, g) => w.string(g, f));
  if (v >= 3) w.bool(rng.chance(0.5));
  if (f) w.taggedFields();
  return bytes(w);
}

function deleteGroups(v: number, rng: Rng): Buffer {
  const f = v >= 2;
  const w = new Writer().array([groupId(rng)], f, (w, g) => w.string(g, f));
  if (f) w.taggedFields();
  return bytes(w);
}

function offsetDelete(_v: number, rng: Rng): Buffer {
  const w = new Writer().string(groupId(rng), false);
  w.array([rng.pick(['mqtt', 'missing'])], false, (w, name) => w.string(name, false).array([rng.int(3)], false, (w, p) => w.int32(p)));
  return bytes(w);
}

/** [api key, first version, last version, first flexible version, body]. */
const APIS: Array<[number, number, number, number, (v: number, rng: Rng) => Buffer]> = [
  [18, 0, 4, 3, apiVersions],
  [3, 0, 12, 9, metadata],
  [2, 1, 7, 6, listOffsets],
  [1, 4, 17, 12, fetch],
  [0, 3, 9, 9, produce],
  [22, 0, 5, 2, initProducerId],
  [8, 0, 9, 8, offsetCommit],
  [9, 0, 9, 6, offsetFetch],
  [10, 0, 6, 3, findCoordinator],
  [11, 0, 9, 6, joinGroup],
  [12, 0, 4, 4, heartbeat],
  [13, 0, 5, 4, leaveGroup],
  [14, 0, 5, 4, syncGroup],
  [15, 0, 5, 5, describeGroups],
  [16, 0, 5, 3, listGroups],
  [42, 0, 2, 2, deleteGroups],
  [47, 0, 0, 1, offsetDelete],
];

/** A well-formed request of a served API and version. */
export function wellFormed(rng: Rng, correlationId: number): Buffer {
  const [key, min, max, flexibleFrom, body] = rng.pick(APIS);
  const version = min + rng.int(max - min + 1);
  return request(key, version, version >= flexibleFrom, body(version, rng), correlationId);
}

/** One frame's bytes as sent (size prefix included): well formed, mangled, or noise. */
export function fuzzFrame(rng: Rng, correlationId: number): { bytes: Buffer; kind: string } {
  const frameOf = (body: Buffer): Buffer => {
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(body.length);
    return Buffer.concat([prefix, body]);
  };
  const choice = rng.int(10);
  if (choice === 0) return { bytes: frameOf(wellFormed(rng, correlationId)), kind: 'well formed' };
  if (choice === 1) {
    // Noise as a whole frame (its own length), or behind a length no frame may have.
    const noise = rng.bytes(rng.int(64));
    if (rng.chance(0.5)) return { bytes: frameOf(noise), kind: 'noise' };
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(rng.pick([-1, -0x80000000, 0, 9, 0x7fffffff, 4097 + rng.int(1 << 20)]));
    return { bytes: Buffer.concat([prefix, noise]), kind: 'bad length' };
  }
  if (choice === 2) return { bytes: frameOf(Buffer.concat([request(rng.int(80), rng.int(20), false, Buffer.alloc(0), correlationId), rng.bytes(rng.int(64))])), kind: 'any key and version' };
  const body = Buffer.from(wellFormed(rng, correlationId));
  if (choice <= 6) {
    // Flip a few bytes after the correlation id (so answers can still be matched).
    for (let i = 0, n = 1 + rng.int(4); i < n && body.length > 8; i++) body[8 + rng.int(body.length - 8)] = rng.int(256);
    return { bytes: frameOf(body), kind: 'flipped' };
  }
  if (choice === 7) return { bytes: frameOf(body.subarray(0, 8 + rng.int(body.length - 7))), kind: 'cut short' };
  if (choice === 8) return { bytes: frameOf(Buffer.concat([body, rng.bytes(1 + rng.int(16))])), kind: 'lengthened' };
  body.writeInt16BE(rng.int(20), 2); // another version of the same API
  return { bytes: frameOf(body), kind: 'other version' };
}
