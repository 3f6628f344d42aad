// Bounded fuzzing of the MQTT front end over real sockets (test/helpers/fuzz-mqtt.ts): generated
// packets of every type, mangled CONNECTs, mutations and split writes, while a well-behaved MQTT.js
// client keeps publishing. Unlike fast-path.test.ts's mutation test (bytes of a PUBLISH template
// flipped after CONNACK), this one generates every packet type, checks the node's answers parse as
// MQTT and that nothing is acknowledged beyond what was stored. A failure prints its seed;
// FUZZ_SEED=<seed> replays the run, FUZZ_CASES sets its length.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzCases, fuzzSeed } from '../../helpers/fuzz.js';
import { fuzzMqtt, storedByClient } from '../../helpers/fuzz-mqtt.js';
import { freePort, startCliNode } from '../../helpers/cli.js';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

test('MQTT fuzz: the node stays up, answers in MQTT, acknowledges nothing it did not store, and keeps serving a good client', async (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  // Unmatched publishes refused (not dropped and acknowledged), so every acknowledgement means a record.
  const { node, url } = await startTestNode(t, { log: { durability: 'write' }, mqtt: { mapping: { unmatched: 'refuse' }, limits: { connectionsPerSecond: 1_000_000 } } });
  const good = await connect(t, url, { clientId: 'good-client' });
  const cases = fuzzCases(600);
  const rounds = 4;
  const total = { cases: 0, connected: 0, acked: 0, packetsSent: 0 };
  for (let round = 0; round < rounds; round++) {
    const from = Math.floor((cases * round) / rounds);
    const tally = await fuzzMqtt(seed, from, Math.floor((cases * (round + 1)) / rounds) - from, { port: node.mqtt.ports.tcp, log: node.log, topic: 'mqtt' });
    for (const key of Object.keys(total) as Array<keyof typeof total>) total[key] += tally[key];
    await good.publishAsync('plant/good/temp', `round ${round}`, { qos: 1 });
    assert.equal(storedByClient(node.log, 'mqtt').get('good-client'), round + 1, 'the good client is served between rounds');
  }
  t.diagnostic(JSON.stringify(total));
  // With the full case count (a short FUZZ_CASES replay may not get there):
  if (process.env.FUZZ_CASES === undefined) assert.ok(total.connected > 0 && total.acked > 0, 'the generator gets connections through and publishes acknowledged');
  await waitFor(() => node.mqtt.connectedClients === 1, 'every fuzzing connection gone, the good client still there');
  assert.equal(good.connected, true);
});

// Found by the fuzzer: the retained-message lookup threw on such a filter, outside any handler.
test('a SUBSCRIBE to a filter whose wildcard is not a whole level closes that connection, not the node [MQTT-4.7.1-2/3]', async (t) => {
  const port = await freePort();
  const node = await startCliNode(t, tempDir(t), port);
  for (const filter of ['F+', 'a/#/b']) {
    const raw = await RawMqtt.open(port);
    t.after(() => raw.destroy());
    await raw.connect(`bad-filter-${filter}`);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] });
    await Promise.race([raw.next('suback'), raw.closed]);
    raw.destroy();
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200, `still serving after a SUBSCRIBE to '${filter}'`);
  }
});
