// The fast path's reader of MQTT 5.0 PUBLISH properties: what it reads is what mqtt-packet (aedes's
// parser) makes of the same bytes, and whatever aedes is to refuse, it leaves to aedes (null).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { bodyStart } from '../../../bridge/mqtt/frame-guard.js';
import { readPublishProperties } from '../../../bridge/mqtt/publish-properties.js';

const TOPIC = 'plant/line-1';

/** A QoS 1 PUBLISH with `properties`, and where its Property Length starts. */
function publishWith(properties: IPublishPacket['properties']): { data: Buffer; at: number } {
  const data = mqttPacket.generate({ cmd: 'publish', topic: TOPIC, payload: Buffer.from('x'), qos: 1, messageId: 7, dup: false, retain: false, properties } as Packet, { protocolVersion: 5 });
  return { data, at: bodyStart(data, 0) + 2 + TOPIC.length + 2 };
}

/** What mqtt-packet parses from `data`, as aedes gets it. */
function parsed(data: Buffer): IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let packet: Packet | undefined;
  parser.on('packet', (p: Packet) => (packet = p));
  parser.on('error', (err: Error) => assert.fail(err));
  parser.parse(data);
  return packet as IPublishPacket;
}

test('reads what mqtt-packet parses: message properties, user properties repeated and in order, the Topic Alias, the payload start', () => {
  const cases: Array<IPublishPacket['properties']> = [
    { payloadFormatIndicator: true },
    { payloadFormatIndicator: false, messageExpiryInterval: 0 },
    { messageExpiryInterval: 4_294_967_295, contentType: 'application/json; charset=utf-8' },
    { responseTopic: 'replies/é', correlationData: Buffer.from([0, 0xff, 7]) },
    { correlationData: Buffer.alloc(0), contentType: '' },
    { topicAlias: 3 },
    { topicAlias: 65_535, userProperties: { a: '1' } },
    { userProperties: { shift: ['early', 'late', 'night'], '10': 'ten', '2': 'two', line: '', 'ü': 'ö' } },
    { userProperties: { big: 'v'.repeat(300) }, contentType: 'c'.repeat(200) },
  ];
  for (const properties of cases) {
    const { data, at } = publishWith(properties);
    const read = readPublishProperties(data, at, data.length);
    assert.notEqual(read, null, JSON.stringify(properties));
    const expected = { ...parsed(data).properties };
    assert.equal(read!.topicAlias, expected.topicAlias ?? 0);
    delete expected.topicAlias;
    assert.deepEqual(read!.properties ?? {}, expected, JSON.stringify(properties));
    if (read!.properties?.userProperties !== undefined) assert.deepEqual(Object.entries(read!.properties.userProperties), Object.entries(expected.userProperties!), 'in the same order');
    assert.equal(data.subarray(read!.end).toString(), 'x', 'the payload starts after the properties');
  }
});

test('leaves to aedes what it is to refuse or does not store: duplicates, unknown ids, a Subscription Identifier, bad strings, bad lengths', () => {
  const { data: good, at } = publishWith({ contentType: 'text/plain', userProperties: { a: 'b' } });
  assert.notEqual(readPublishProperties(good, at, good.length), null);
  const bytes = (properties: number[]): { data: Buffer; at: number } => {
    const head = good.subarray(0, at);
    return { data: Buffer.concat([head, Buffer.from([properties.length, ...properties]), Buffer.from('x')]), at };
  };
  const refused: Array<[string, number[]]> = [
    ['a property twice [MQTT 5.0 2.2.2.2]', [0x01, 0, 0x01, 1]],
    ['a Topic Alias twice', [0x23, 0, 1, 0x23, 0, 2]],
    ['Topic Alias 0 [MQTT-3.3.2-8]', [0x23, 0, 0]],
    ['a Subscription Identifier from a client [MQTT-3.3.4-6]', [0x0b, 1]],
    ['an unknown property', [0x7f, 0]],
    ['a Payload Format Indicator of 2', [0x01, 2]],
    ['a string that is not UTF-8 [MQTT-1.5.3-1]', [0x03, 0, 2, 0xc0, 0x80]],
    ['a string with U+0000 [MQTT-1.5.3-2]', [0x26, 0, 1, 0x61, 0, 1, 0]],
    ['a wildcard Response Topic [MQTT-3.3.2-14]', [0x08, 0, 3, 0x61, 0x2f, 0x23]],
    ['a string overrunning the properties', [0x03, 0, 9, 0x61]],
    ['a value cut short', [0x02, 0, 0]],
  ];
  for (const [what, properties] of refused) {
    const { data } = bytes(properties);
    assert.equal(readPublishProperties(data, at, data.length), null, what);
  }
  // A Property Length past the packet's end, and one of more than 4 bytes.
  const { data } = bytes([0x01, 1]);
  assert.equal(readPublishProperties(data, at, at + 2), null, 'properties past the end');
  const long = Buffer.concat([good.subarray(0, at), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x01])]);
  assert.equal(readPublishProperties(long, at, long.length), null, 'a Property Length of 5 bytes');
});
