// Upstream exactly once across failovers (docs/replication.md, Upstream): three real `tributary
// start` nodes on loopback forwarding to a real Kafka, a publisher that knows every node's address
// and never stops, the leader SIGKILLed while it forwards, then the next one SIGSTOPped (it comes
// back with a transaction open), and Kafka read with kcat, read_committed: every acknowledged
// message is there exactly once, and the upstream topic holds the edge log's offsets 0..n-1 in order.
// The upstream topic template leaves {node} out, so that every node's forwarder writes the same
// topic whatever its identity: with per-node identities the new leader finds no cursor of its own
// and sends again what the old one sent (duplicates), or refuses the old one's log id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import type { UpstreamStatus } from '../../bridge/upstream/forwarder.js';
import { startKafka } from '../helpers/kafka.js';
import { startReplicas, waitForLeader, type Replica } from '../helpers/replicas.js';
import { readUpstream } from '../helpers/upstream.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const CLUSTER = 'site-7';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function upstreamOf(replica: Replica): Promise<UpstreamStatus | null> {
  try {
    const body = (await (await fetch(`http://127.0.0.1:${replica.httpPort}/api/upstream`, { signal: AbortSignal.timeout(2000) })).json()) as UpstreamStatus & { enabled: boolean };
    return body.enabled ? body : null;
  } catch {
    return null;
  }
}

/** Waits (bounded) until `replica`'s forwarder has forwarded at least `records` since it started. */
async function waitForwarding(replica: Replica, records: number): Promise<void> {
  let last: UpstreamStatus | null = null;
  for (let i = 0; i < 1200; i++) {
    last = await upstreamOf(replica);
    if (last !== null && last.counters.recordsForwarded >= records) return;
    await sleep(50);
  }
  throw new Error(`${replica.id} did not forward ${records} records: ${JSON.stringify(last)}\n${replica.output().slice(-3000)}`);
}

/**
 * A QoS 1 publisher that knows every node: publishes `m-0`, `m-1`, ... (10 in flight) to whichever
 * node takes its CONNECT, moves to the next address when a connection closes or stops answering,
 * and never sends a payload twice. `acked` lists what was PUBACKed.
 */
function startPublisher(replicas: readonly Replica[]): { acked: string[]; stop(): Promise<void> } {
  const acked: string[] = [];
  let stopped = false;
  let next = 0;
  const run = async (): Promise<void> => {
    for (let turn = 0; !stopped; turn++) {
      const replica = replicas[turn % replicas.length]!;
      const client = mqtt.connect(`mqtt://127.0.0.1:${replica.mqttPort}`, { clientId: 'failover-publisher', reconnectPeriod: 0, connectTimeout: 2000 });
      client.on('error', () => undefined);
      await new Promise<void>((resolve) => {
        let open = 0;
        let progressAt = Date.now();
        // A stopped node answers nothing and its socket stays open: give up on it after a while.
        const watchdog = setInterval(() => {
          if (stopped || (open > 0 && Date.now() - progressAt > 3000)) client.end(true);
        }, 100);
        client.once('close', () => {
          clearInterval(watchdog);
          resolve();
        });
        client.once('connect', () => {
          const pump = (): void => {
            // MQTT.js fails a publish on a closing client synchronously, and `connected` is still
            // true then: pumping again from a failed callback would recurse without end.
            while (!stopped && open < 10 && client.connected && !client.disconnecting) {
              const payload = `m-${next++}`;
              open++;
              client.publish('plant/line/power', payload, { qos: 1 }, (err) => {
                open--;
                progressAt = Date.now();
                if (err != null) return;
                acked.push(payload);
                pump();
              });
            }
          };
          pump();
        });
      });
      if (!stopped) await sleep(50);
    }
  };
  const running = run();
  return {
    acked,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

test('every replica forwards as the cluster: across a SIGKILL and a SIGSTOP of the leader while it forwards, Kafka holds every acknowledged message exactly once, in log order', async (t) => {
  const kafka = await startKafka(t);
  const replicas = await startReplicas(t, 3, {
    name: CLUSTER,
    // Small transactions: one is nearly always open while the publisher streams.
    extraYaml: `upstream: { enabled: true, brokers: ["${kafka.bootstrap}"], topicTemplate: "edge.{topic}", batchRecords: 20, linger: 0, transactionTimeout: 10s }\n`,
  });
  const first = await waitForLeader(replicas);
  const publisher = startPublisher(replicas);
  t.after(() => publisher.stop());

  // SIGKILL the leader while it forwards; another leads and forwards on from the cursors upstream.
  await waitForwarding(first, 60);
  await first.kill();
  const second = await waitForLeader(replicas.filter((r) => r !== first));
  await first.restart();
  assert.equal((await waitForLeader(replicas)).id, second.id);
  await waitForwarding(second, 60);

  // SIGSTOP the next leader in a transaction; on SIGCONT it follows, fenced, and forwards nothing more.
  second.signal('SIGSTOP');
  const third = await waitForLeader(replicas.filter((r) => r !== second));
  await waitForwarding(third, 60);
  second.signal('SIGCONT');
  assert.equal((await waitForLeader(replicas)).id, third.id);
  await pollUntil(async () => (await upstreamOf(second)) === null, PATIENCE_MS, 50);
  assert.equal(await upstreamOf(second), null, `${second.id} still forwards after SIGCONT`);
  const forwardedBefore = (await upstreamOf(third))!.counters.recordsForwarded;
  await waitForwarding(third, forwardedBefore + 60);
  await publisher.stop();
  assert.ok(second.child.exitCode === null && second.child.signalCode === null, `${second.id} exited:\n${second.output().slice(-3000)}`);
  // What the resumed leader's forwarder met (fenced in a transaction, or stopped before its next one).
  const met = second.output().split('\n').filter((l) => /TRIB_UPSTREAM_FENCED|no longer leads|forwarder/.test(l) && l.includes('"component":"upstream"'));
  t.diagnostic(`${second.id} after SIGCONT: ${met.slice(-3).join(' | ')}`);

  // The leader catches up with everything committed; then Kafka is read, read_committed.
  let status: UpstreamStatus | null = null;
  for (let i = 0; i < 1200; i++) {
    status = await upstreamOf(third);
    const lane = status?.partitions.find((p) => p.topic === 'mqtt');
    if (lane !== undefined && lane.forwardedOffset !== null && lane.forwardedOffset === lane.logEndOffset && lane.logEndOffset === lane.highWatermark) break;
    await sleep(50);
  }
  const lane = status!.partitions.find((p) => p.topic === 'mqtt')!;
  assert.equal(lane.forwardedOffset, lane.logEndOffset, `not caught up: ${JSON.stringify(status)}`);
  assert.equal(lane.upstreamTopic, 'edge.mqtt');

  const records = await readUpstream(kafka.bootstrap, 'edge.mqtt');
  const values = records.map((r) => r.value);
  const twice = values.filter((v, i) => values.indexOf(v) !== i);
  assert.deepEqual(twice.slice(0, 10), [], `${twice.length} records upstream twice`);
  const held = new Set(values);
  const missing = publisher.acked.filter((p) => !held.has(p));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${publisher.acked.length} acknowledged messages are not upstream`);
  // Exactly the edge log, once, in its order: offsets 0..n-1, and the publisher's order within it.
  assert.deepEqual(
    records.map((r) => Number(r.headers['tributary.offset'])),
    records.map((_, i) => i),
    'the upstream topic is not the edge log offsets 0..n-1 in order',
  );
  assert.equal(records.length, lane.logEndOffset);
  const sequence = values.map((v) => Number(v.slice(2)));
  assert.ok(
    sequence.every((n, i) => i === 0 || n > sequence[i - 1]!),
    'upstream order differs from publishing order',
  );
  assert.ok(records.every((r) => r.headers['tributary.node'] === CLUSTER), 'a record was not forwarded as the cluster');
  assert.ok(publisher.acked.length > 200, `only ${publisher.acked.length} messages acknowledged`);
  // Records of aborted transactions (the faults' open ones, aborted by the next leader's InitProducerId): invisible above.
  const raw = await readUpstream(kafka.bootstrap, 'edge.mqtt', ['-X', 'isolation.level=read_uncommitted']);
  t.diagnostic(`${records.length} records committed upstream, ${raw.length - records.length} in aborted transactions; ${publisher.acked.length} acknowledged`);
});
