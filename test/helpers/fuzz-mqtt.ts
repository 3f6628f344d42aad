// The MQTT front end's fuzzer: each case opens a real TCP connection to a running node, usually
// completes a proper CONNECT (sometimes sends a mangled one instead), then sends a few generated
// packets of every type — mutated now and then (bytes flipped, inserted, cut; lengths broken;
// garbage after) and split across writes. What the node answers is parsed as MQTT. The checks:
// the node stays up; whatever it sends is MQTT; a proper CONNECT always gets its CONNACK; it never
// acknowledges (PUBACK, PUBREC) more publishes of a client than it stored from that client; and a
// well-behaved client keeps being served (checked by the caller between rounds).
import { connect as tcpConnect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { Log } from '../../broker/log/log.js';
import { FuzzFinding, Rng } from './fuzz.js';
import { PATIENCE_MS } from './wait-for.js';

/** How long the node may take to answer before its silence is a finding: a hang, not a loaded machine. */
const DEADLINE_MS = PATIENCE_MS;
const TOPICS = ['plant/line-1/temp', 'a', 'a/b/c/d', '/', '//', 'x/+/y', '#', '+', 'a/#', '$SYS/x', '$share/g/a', '', 'é/😀', 'nul\u0000byte', 'a'.repeat(2000), Array.from({ length: 120 }, () => 'l').join('/'), 'fz/dup'];

export interface MqttFuzzTally {
  cases: number;
  connected: number;
  acked: number;
  packetsSent: number;
}

/** What one case did: its client id (null when the CONNECT was mangled) and the publishes acknowledged to it. */
interface CaseResult {
  clientId: string | null;
  ackedIds: Set<string>;
  packetsSent: number;
  connected: boolean;
}

function topic(rng: Rng): string {
  return rng.chance(0.7) ? `fz/${rng.int(5)}/${rng.pick(['t', 'h', 'p'])}` : rng.chance(0.8) ? rng.pick(TOPICS) : rng.text(20);
}

/** MQTT 5.0 PUBLISH properties, some of them odd: alias 0 or past the maximum, a payload said to be UTF-8, wildcards. */
function publishProperties(rng: Rng): Record<string, unknown> | undefined {
  if (rng.chance(0.3)) return undefined;
  const properties: Record<string, unknown> = {};
  if (rng.chance(0.4)) properties.topicAlias = rng.pick([0, 1, 2, 3, 32, 33, 65_535]);
  if (rng.chance(0.4)) properties.userProperties = Object.fromEntries(Array.from({ length: 1 + rng.int(3) }, () => [rng.text(8), rng.chance(0.2) ? [rng.text(5), rng.text(5)] : rng.text(12)]));
  if (rng.chance(0.3)) properties.payloadFormatIndicator = rng.chance(0.5);
  if (rng.chance(0.2)) properties.contentType = rng.text(10);
  if (rng.chance(0.2)) properties.messageExpiryInterval = rng.pick([0, 1, 60, 4_294_967_295]);
  if (rng.chance(0.2)) properties.responseTopic = rng.pick(['r/1', 'r/+', '#', '']);
  if (rng.chance(0.2)) properties.correlationData = rng.bytes(rng.int(16));
  if (rng.chance(0.05)) properties.subscriptionIdentifier = 1 + rng.int(10); // only a server sends it in a PUBLISH
  return properties;
}

function packet(rng: Rng, seed: number, index: number, version: 4 | 5): Packet {
  const messageId = 1 + rng.int(rng.chance(0.9) ? 20 : 65_535);
  const qos = rng.pick([0, 1, 1, 1, 2] as const);
  const kind = rng.int(20);
  switch (kind < 13 ? 0 : kind - 8) { // publishes most often; 2 in 20 a DISCONNECT
    case 0: {
      const payload = Buffer.concat([Buffer.from(`fz:${seed}:${index}:${messageId}:${rng.text(rng.chance(0.1) ? 3000 : 30)}`), rng.chance(0.05) ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0)]);
      const properties = version === 5 ? publishProperties(rng) : undefined;
      return { cmd: 'publish', topic: topic(rng), payload, qos, messageId: qos === 0 ? undefined : messageId, dup: rng.chance(0.1), retain: rng.chance(0.1), ...(properties === undefined ? {} : { properties }) } as Packet;
    }
    case 5:
      return { cmd: 'subscribe', messageId, subscriptions: Array.from({ length: 1 + rng.int(3) }, () => ({ topic: topic(rng), qos: rng.pick([0, 1, 2] as const) })) } as Packet;
    case 6:
      return { cmd: 'unsubscribe', messageId, unsubscriptions: [topic(rng)] } as Packet;
    case 7:
      return { cmd: rng.pick(['pubrel', 'puback', 'pubrec', 'pubcomp'] as const), messageId } as Packet;
    case 8:
      return { cmd: 'pingreq' };
    case 9:
      return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `again-${index}`, clean: true, keepalive: 30 } as Packet;
    case 10:
      // Packets only a server sends.
      return { cmd: rng.pick(['connack', 'suback', 'pingresp', 'unsuback'] as const), returnCode: 0, reasonCode: 0, messageId, granted: [0], sessionPresent: false } as Packet;
    default:
      return { cmd: 'disconnect' };
  }
}

/** Flips, inserts, deletes, truncates; or breaks a fixed header's Remaining Length; or appends garbage. */
function mutate(rng: Rng, bytes: Buffer): Buffer {
  let out: Buffer = Buffer.from(bytes);
  for (let k = 0, n = 1 + rng.int(4); k < n && out.length > 0; k++) {
    switch (rng.int(6)) {
      case 0:
        out[rng.int(out.length)] = rng.int(256);
        break;
      case 1: {
        const at = rng.int(out.length);
        out = Buffer.concat([out.subarray(0, at), rng.bytes(1 + rng.int(8)), out.subarray(at)]);
        break;
      }
      case 2: {
        const at = rng.int(out.length);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + rng.int(8))]);
        break;
      }
      case 3:
        out = out.subarray(0, rng.int(out.length));
        break;
      case 4:
        // Remaining Length: the largest (268,435,455), one continuation byte too many, or zero.
        if (out.length > 1) out = Buffer.concat([out.subarray(0, 1), rng.pick([Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x01]), Buffer.from([0x00])]), out.subarray(2)]);
        break;
      default:
        out = Buffer.concat([out, rng.bytes(1 + rng.int(64))]);
    }
  }
  return out;
}

function pieces(rng: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length < 2 || rng.chance(0.5)) return [bytes];
  const cuts = Array.from({ length: 1 + rng.int(4) }, () => 1 + rng.int(bytes.length - 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) out.push(bytes.subarray(at, cut));
    at = cut;
  }
  return out;
}

/** The packet's bytes; none when mqtt-packet refuses to write what the generator made. */
function encode(p: Packet, version: 4 | 5): Buffer[] {
  try {
    return [mqttPacket.generate(p, { protocolVersion: version })];
  } catch {
    return [];
  }
}

const later = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function runCase(rng: Rng, seed: number, index: number, port: number, fail: (problem: string, input: string) => never): Promise<CaseResult> {
  // MQTT 5.0 in a third of the cases (aedes 2 speaks it): the same checks as for 3.1.1.
  const version: 4 | 5 = rng.chance(0.67) ? 4 : 5;
  const clientId = `fz-${seed}-${index}`;
  const proper = rng.chance(0.85);
  const connectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: rng.chance(0.8), keepalive: rng.pick([0, 5, 60]) } as Packet;
  const packets = Array.from({ length: 1 + rng.int(6) }, () => packet(rng, seed, index, version));
  let stream: Buffer = Buffer.concat(packets.flatMap((p) => encode(p, version)));
  if (rng.chance(0.35)) stream = mutate(rng, stream);
  if (rng.chance(0.03)) stream = rng.bytes(1 + rng.int(200));
  const head = proper ? mqttPacket.generate(connectPacket, { protocolVersion: version }) : mutate(rng, mqttPacket.generate(connectPacket, { protocolVersion: version }));
  const input = `${proper ? 'CONNECT' : 'mangled CONNECT'} ${head.toString('hex')} then ${stream.toString('hex')}`;
  const result: CaseResult = { clientId: proper ? clientId : null, ackedIds: new Set(), packetsSent: packets.length, connected: false };

  const socket = tcpConnect(port, '127.0.0.1');
  socket.on('error', () => undefined); // a reset is a close
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const parser = mqttPacket.parser({ protocolVersion: version });
  let connack: (() => void) | null = null;
  const connacked = new Promise<void>((resolve) => (connack = resolve));
  let notMqtt: string | null = null;
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'connack') {
      if ((p.returnCode ?? p.reasonCode ?? 0) === 0) result.connected = true;
      connack?.();
    }
    // An acknowledgement of a publish: PUBACK, or PUBREC (QoS 2), without a failure reason (MQTT 5).
    if ((p.cmd === 'puback' || p.cmd === 'pubrec') && (p.reasonCode === undefined || p.reasonCode < 0x80)) result.ackedIds.add(String(p.messageId));
  });
  parser.on('error', (err: Error) => (notMqtt ??= err.message));
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));

  try {
    socket.write(head);
    if (proper) {
      // [MQTT-3.2.0-1] a proper CONNECT is answered with a CONNACK.
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([connacked.then(() => 'connack'), closed.then(() => 'closed'), new Promise((r) => (timer = setTimeout(r, DEADLINE_MS, 'timeout')))]);
      clearTimeout(timer);
      if (waited !== 'connack') fail(`a proper CONNECT got no CONNACK (${waited})`, input);
    }
    for (const piece of pieces(rng, stream)) {
      if (socket.destroyed) break;
      socket.write(piece);
      await later();
    }
    // Let the node answer what it can, then leave (or see it close first).
    await Promise.race([closed, new Promise((r) => setTimeout(r, rng.pick([0, 2, 10, 30])))]);
  } finally {
    socket.destroy();
  }
  await closed;
  if (notMqtt !== null) fail(`the node sent bytes that are not MQTT ${version === 5 ? '5.0' : '3.1.1'}: ${notMqtt}`, input);
  return result;
}

/** Records per MQTT client id (the mqtt.client_id header) across every partition of `topic`. */
export function storedByClient(log: Log, topic: string): Map<string, number> {
  const counts = new Map<string, number>();
  const info = log.topics().find((t) => t.name === topic);
  for (const p of info?.partitions ?? []) {
    for (let from = p.logStartOffset; ; ) {
      const { records } = log.read(topic, p.partition, from, { maxRecords: 10_000 });
      if (records.length === 0) break;
      for (const r of records) {
        const id = r.headers.find(([name]) => name === 'mqtt.client_id')?.[1]?.toString() ?? '';
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      from = records[records.length - 1]!.offset + 1;
    }
  }
  return counts;
}

/**
 * Runs cases [from, from + count) of the run with `seed` against the node's MQTT port, `concurrency`
 * at a time, then checks acknowledgements against what the log holds. Throws the first finding.
 */
export async function fuzzMqtt(seed: number, from: number, count: number, target: { port: number; log: Log; topic: string }, concurrency = 4): Promise<MqttFuzzTally> {
  const tally: MqttFuzzTally = { cases: 0, connected: 0, acked: 0, packetsSent: 0 };
  const results: Array<{ index: number; result: CaseResult }> = [];
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < from + count) {
      const index = next++;
      const fail = (problem: string, input: string): never => {
        throw new FuzzFinding('mqtt', seed, index, problem, input);
      };
      const result = await runCase(Rng.forCase(seed, index), seed, index, target.port, fail);
      results.push({ index, result });
      tally.cases++;
      tally.packetsSent += result.packetsSent;
      if (result.connected) tally.connected++;
      tally.acked += result.ackedIds.size;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  // Nothing acknowledged that is not in the log: per client, acknowledged publishes (distinct
  // packet ids: a resent QoS 1 publish may be stored twice, a resent QoS 2 one is acknowledged
  // again) never outnumber its stored records. Mangled CONNECTs may carry any client id: those
  // cases are checked together against every record no proper case's client id claims.
  const stored = storedByClient(target.log, target.topic);
  let unnamedAcks = 0;
  const properIds = new Set(results.map((r) => r.result.clientId).filter((id) => id !== null));
  for (const { index, result } of results) {
    if (result.clientId === null) {
      unnamedAcks += result.ackedIds.size;
      continue;
    }
    const have = stored.get(result.clientId) ?? 0;
    if (result.ackedIds.size > have) throw new FuzzFinding('mqtt', seed, index, `${result.ackedIds.size} publishes acknowledged to ${result.clientId}, ${have} stored`, `(replay the case for its bytes) acked ids ${[...result.ackedIds].join(',')}`);
  }
  const unclaimed = [...stored].filter(([id]) => !properIds.has(id)).reduce((sum, [, n]) => sum + n, 0);
  if (unnamedAcks > unclaimed) throw new FuzzFinding('mqtt', seed, -1, `${unnamedAcks} publishes acknowledged after mangled CONNECTs, ${unclaimed} stored from such clients`, '(all cases with a mangled CONNECT)');
  return tally;
}
