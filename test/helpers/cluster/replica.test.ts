// The checker's input from a real node: a history of QoS 1 and QoS 2 publishes from two MQTT.js
// clients, the node's records read back through its HTTP API (binary payloads compared byte for
// byte), its high watermark from the ranges header; the clean history passes, and a record the
// node does not hold is reported lost. Once the node is stopped, its data directory reads the same.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startTestNode } from '../mqtt-node.js';
import { check, type Operation } from './checker.js';
import { readReplica, readReplicaFromDataDir } from './replica.js';

const TOKEN = 'replica-reader-test-token-0123456789';
const TAIL = Buffer.from([0xff, 0x00, 0xfe]); // not UTF-8: the records stream must carry it in base64

test('a real node read through its HTTP API feeds the checker: a clean history passes, a missing record is lost', async (t) => {
  const n = await startTestNode(t, { http: { token: TOKEN } });
  const history: Operation[] = [];
  for (const [publisher, qos] of [['p1', 1], ['p2', 2]] as const) {
    const client = await connect(t, n.url, { clientId: publisher });
    for (let seq = 0; seq < 20; seq++) {
      const id = `${publisher}/${seq}`;
      const op: Operation = { publisher, id, seq, qos, sentAt: Date.now(), acked: false, node: 'n0' };
      history.push(op);
      await client.publishAsync(`harness/${publisher}`, Buffer.concat([Buffer.from(id), TAIL]), { qos });
      op.acked = true;
    }
  }
  const idOf = (value: Buffer): string | null => (value.subarray(-TAIL.length).equals(TAIL) ? value.subarray(0, -TAIL.length).toString() : null);
  const replica = await readReplica('n0', `http://127.0.0.1:${n.node.http.port}`, TOKEN, 'mqtt', idOf);
  assert.equal(replica.records.length, 40);
  assert.deepEqual(replica.highWatermarks, { 'mqtt/0': 40 });
  const copy = { ...replica, node: 'n1', records: replica.records.map((r) => ({ ...r, bytes: Buffer.from(r.bytes) })) };
  const report = check(history, [replica, copy], { reference: 'n0' });
  assert.equal(report.ok, true, report.summary);
  assert.equal(report.acknowledged, 40);

  history.push({ publisher: 'p1', id: 'p1/20', seq: 20, qos: 1, sentAt: Date.now(), acked: true, node: 'n0' });
  assert.deepEqual(check(history, [replica]).lost.map((op) => op.id), ['p1/20']);
  await assert.rejects(readReplica('n0', `http://127.0.0.1:${n.node.http.port}`, null, 'mqtt', idOf), /answered 401/);

  await n.close();
  const fromDisk = await readReplicaFromDataDir('n0', n.dataDir, 'mqtt', idOf);
  assert.deepEqual(fromDisk, replica);
});
