// Kafka consumer groups against a whole node (kafka.enabled) with real clients: kcat (librdkafka)
// with -G as processes, Kafka's Java ConsoleConsumer --group and ConsumerGroupCommand, and
// @platformatic/kafka's Consumer with a groupId. Committed offsets must survive a node restart;
// two members of a group split the partitions of a 2-partition topic, and the group rebalances
// when one leaves (SIGTERM: LeaveGroup) or stops heartbeating (SIGSTOP: its session expires).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import type { MqttClient } from 'mqtt';
import { CursorStore } from '../../broker/cursors.js';
import { Reader } from '../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../bridge/kafka/protocol/writer.js';
import { onCleanup } from '../helpers/cleanup.js';
import { runCliAsync } from '../helpers/cli.js';
import { kafkaToolsClasspath, runKafkaTool } from '../helpers/kafka.js';
import { connect, startTestNode, type TestNode } from '../helpers/mqtt-node.js';
import { RawKafka } from '../helpers/raw-kafka.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
const SETTINGS = { topics: [{ name: 'mqtt', partitions: 2 }], kafka: { enabled: true, port: 0 } };

async function startNode(t: TestContext, dataDir: string, kafkaPort = 0): Promise<{ node: TestNode; port: number; mqtt: MqttClient }> {
  const node = await startTestNode(t, { ...SETTINGS, kafka: { enabled: true, port: kafkaPort } }, dataDir);
  assert.ok(node.node.kafka !== null, 'the Kafka endpoint started');
  const mqtt = await connect(t, node.url, { clientId: 'kafka-groups-test' });
  return { node, port: node.node.kafka.port, mqtt };
}

/** Publishes records numbered from..to-1 (QoS 1: in the log once acknowledged); their MQTT topics spread them over both partitions. */
async function publish(mqtt: MqttClient, from: number, to: number): Promise<string[]> {
  const values: string[] = [];
  for (let i = from; i < to; i++) {
    await mqtt.publishAsync(`sensors/line-${i}`, `reading ${i}`, { qos: 1 });
    values.push(`reading ${i}`);
  }
  return values;
}

/** kcat in a group, to the end of every assigned partition, then closed (committing what it read): the values read. */
async function kcatGroupToEnd(port: number, group: string): Promise<string[]> {
  try {
    const { stdout } = await run('kcat', ['-b', `127.0.0.1:${port}`, '-G', group, '-X', 'auto.offset.reset=earliest', '-e', '-f', '%s\n', 'mqtt'], { timeout: 60_000 });
    return stdout.split('\n').filter((line) => line !== '');
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') assert.fail('kcat is not installed (Debian package kcat)');
    throw new Error(`kcat -G ${group} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

const sorted = (values: readonly string[]): string[] => [...values].sort();

test('kcat -G commits what it read; the next run and a run after a node restart start from the committed offsets', async (t) => {
  const dataDir = tempDir(t);
  const first = await startNode(t, dataDir);
  const batch1 = await publish(first.mqtt, 0, 6);
  assert.deepEqual(sorted(await kcatGroupToEnd(first.port, 'readers')), sorted(batch1));

  const batch2 = await publish(first.mqtt, 6, 10);
  assert.deepEqual(sorted(await kcatGroupToEnd(first.port, 'readers')), sorted(batch2), 'only what came after the committed offsets');

  await first.mqtt.endAsync();
  await first.node.close();
  const second = await startNode(t, dataDir);
  const batch3 = await publish(second.mqtt, 10, 13);
  assert.deepEqual(sorted(await kcatGroupToEnd(second.port, 'readers')), sorted(batch3), 'the committed offsets survived the restart');
  assert.deepEqual(sorted(await kcatGroupToEnd(second.port, 'another-group')), sorted([...batch1, ...batch2, ...batch3]), 'another group has its own offsets');
});

/** A kcat group member running until killed; `assigned` follows its rebalance lines ("assigned: mqtt [0], mqtt [1]" / "revoked: ..."). */
class KcatMember {
  readonly child: ChildProcess;
  assigned: number[] = [];
  readonly lines: string[] = [];
  readonly exited: Promise<void>;

  constructor(t: TestContext, port: number, group: string, sessionTimeoutMs: number) {
    this.child = spawn('kcat', ['-b', `127.0.0.1:${port}`, '-G', group, '-X', 'auto.offset.reset=earliest', '-X', `session.timeout.ms=${sessionTimeoutMs}`, '-X', 'heartbeat.interval.ms=500', '-f', '%p %o\n', 'mqtt'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.on('close', () => resolve()));
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.lines.push(line);
      const change = /rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)$/.exec(line);
      if (change === null) return;
      const partitions = [...change[2]!.matchAll(/mqtt \[(\d+)\]/g)].map((m) => Number(m[1]));
      this.assigned = change[1] === 'assigned' ? partitions.sort() : [];
    });
    onCleanup(t, async () => {
      this.child.kill('SIGKILL'); // also ends a stopped process
      await this.exited;
    });
  }

  /** Sends a signal to this kcat process (by its own pid). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

async function waitForAssignment(members: ReadonlyArray<[KcatMember, number]>, what: string): Promise<void> {
  await waitFor(() => members.every(([m, count]) => m.assigned.length === count) && new Set(members.flatMap(([m]) => m.assigned)).size === 2, what, 45_000).catch((err: Error) => {
    throw new Error(`${err.message}; kcat said:\n${members.map(([m], i) => `member ${i}:\n${m.lines.join('\n')}`).join('\n')}`);
  });
}

test('two kcat members split a 2-partition topic; the group rebalances when one leaves and when one stops heartbeating', async (t) => {
  const { port, mqtt } = await startNode(t, tempDir(t));
  await publish(mqtt, 0, 6);
  // A long session for the first member: it stays in the group throughout.
  const a = new KcatMember(t, port, 'pair', 120_000);
  await waitForAssignment([[a, 2]], 'the first member has both partitions');

  const b = new KcatMember(t, port, 'pair', 120_000);
  await waitForAssignment([[a, 1], [b, 1]], 'the two members have one partition each');

  // SIGTERM: kcat closes its consumer, which sends LeaveGroup; the rebalance comes at once (its
  // 120 s session has not passed when waitFor gives up).
  b.signal('SIGTERM');
  await b.exited;
  await waitForAssignment([[a, 2]], 'the remaining member has both partitions after the other left');

  // SIGSTOP: the member stops heartbeating with its connection open; its 6 s session expires.
  const c = new KcatMember(t, port, 'pair', 6_000);
  await waitForAssignment([[a, 1], [c, 1]], 'a new member takes one partition');
  c.signal('SIGSTOP');
  await waitForAssignment([[a, 2]], 'the remaining member has both partitions after the stopped one timed out');
});


test("the Java ConsoleConsumer with --group commits; ConsumerGroupCommand lists and describes the group's offsets and lag", async (t) => {
  const classpath = await kafkaToolsClasspath();
  const { port, mqtt, node } = await startNode(t, tempDir(t));
  const bootstrap = `127.0.0.1:${port}`;
  const batch1 = await publish(mqtt, 0, 5);
  const consume = (count: number): Promise<string[]> =>
    runKafkaTool(classpath, 'org.apache.kafka.tools.consumer.ConsoleConsumer', '--bootstrap-server', bootstrap, '--topic', 'mqtt', '--group', 'java-readers', '--from-beginning', '--max-messages', String(count));
  assert.deepEqual(sorted(await consume(5)), sorted(batch1));

  const ends = [0, 1].map((p) => node.node.log.partition('mqtt', p).highWatermark);
  const describe = await runKafkaTool(classpath, 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', bootstrap, '--describe', '--group', 'java-readers');
  const rows = describe.filter((line) => line.startsWith('java-readers ')).map((line) => line.split(/\s+/).slice(1, 6));
  assert.deepEqual(rows, [0, 1].map((p) => ['mqtt', String(p), String(ends[p]), String(ends[p]), '0']), describe.join('\n'));
  assert.ok((await runKafkaTool(classpath, 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', bootstrap, '--list')).includes('java-readers'));

  const batch2 = await publish(mqtt, 5, 7);
  assert.deepEqual(sorted(await consume(2)), sorted(batch2), 'the second run starts at the committed offsets');
});

test("@platformatic/kafka's Consumer with a groupId reads, commits, and a later consumer of the group resumes there", async (t) => {
  const { port, mqtt } = await startNode(t, tempDir(t));
  const consumeOnce = async (count: number): Promise<string[]> => {
    const consumer = new Consumer({ groupId: 'platformatic-readers', clientId: 'platformatic-test', bootstrapBrokers: [`127.0.0.1:${port}`], deserializers: stringDeserializers, sessionTimeout: 6_000, heartbeatInterval: 500, retries: 0 });
    onCleanup(t, () => consumer.close(true));
    const stream = await consumer.consume({ topics: ['mqtt'], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
    const values: string[] = [];
    for await (const message of stream) {
      values.push(message.value);
      await message.commit();
      if (values.length === count) break;
    }
    await stream.close();
    await consumer.close();
    return values;
  };
  const batch1 = await publish(mqtt, 0, 4);
  assert.deepEqual(sorted(await consumeOnce(4)), sorted(batch1));
  const batch2 = await publish(mqtt, 4, 7);
  assert.deepEqual(sorted(await consumeOnce(3)), sorted(batch2));
});

test("two @platformatic/kafka Consumers of one group split the partitions; when one leaves, the other gets both", async (t) => {
  const { port, mqtt } = await startNode(t, tempDir(t));
  await publish(mqtt, 0, 6);
  const member = async (clientId: string): Promise<{ consumer: Consumer<string, string, string, string>; close(): Promise<void> }> => {
    const consumer = new Consumer({ groupId: 'platformatic-pair', clientId, bootstrapBrokers: [`127.0.0.1:${port}`], deserializers: stringDeserializers, sessionTimeout: 60_000, heartbeatInterval: 500, retries: 0 });
    onCleanup(t, () => consumer.close(true));
    const stream = await consumer.consume({ topics: ['mqtt'], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
    stream.resume(); // read on, so that the stream does not hold the consumer back
    return {
      consumer,
      close: async () => {
        await stream.close();
        await consumer.close();
      },
    };
  };
  const partitions = (m: { consumer: Consumer<string, string, string, string> }): number[] => (m.consumer.assignments ?? []).flatMap((a) => a.partitions).sort();
  const first = await member('first');
  await waitFor(() => partitions(first).length === 2, 'the first member has both partitions', 45_000);
  const second = await member('second');
  await waitFor(() => partitions(first).length === 1 && partitions(second).length === 1 && new Set([...partitions(first), ...partitions(second)]).size === 2, 'one partition each', 45_000);
  await second.close(); // LeaveGroup; the 60 s session has not passed when waitFor gives up
  await waitFor(() => partitions(first).length === 2, 'the remaining member has both partitions after the other left', 45_000);
});

/** A port that was free a moment ago (for a node restarted on the same Kafka port). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The group's state and member count as DescribeGroups v0 gives them. */
async function describeGroup(t: TestContext, port: number, group: string): Promise<{ state: string; members: number }> {
  const kafka = await RawKafka.open(t, port);
  try {
    kafka.send(15, 0, Buffer.concat(new Writer().array([group], false, (w, g) => w.string(g, false)).chunks()));
    const r = new Reader((await kafka.response())!);
    r.int32();
    r.int32(); // one group
    r.int16();
    r.string(false);
    const state = r.string(false);
    r.string(false);
    r.string(false);
    return { state, members: r.int32() };
  } finally {
    await kafka.close();
  }
}

test('a Java consumer that stays up through a node restart joins the restarted node\'s group again and reads on: nothing twice, nothing missed', async (t) => {
  // (kcat is not used here: it exits when every broker connection is down.)
  const classpath = await kafkaToolsClasspath();
  const dataDir = tempDir(t);
  const kafkaPort = await freePort();
  const first = await startNode(t, dataDir, kafkaPort);
  const batch1 = await publish(first.mqtt, 0, 6);
  const read: string[] = [];
  const child = spawn('java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'org.apache.kafka.tools.consumer.ConsoleConsumer', '--bootstrap-server', `127.0.0.1:${kafkaPort}`, '--topic', 'mqtt', '--group', 'live', '--from-beginning',
    '--consumer-property', 'auto.commit.interval.ms=100', '--consumer-property', 'session.timeout.ms=6000', '--consumer-property', 'heartbeat.interval.ms=500', '--consumer-property', 'reconnect.backoff.max.ms=200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => read.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  onCleanup(t, async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const said = (err: Error): never => {
    throw new Error(`${err.message}; read ${JSON.stringify(read)}; the consumer said:\n${stderr.slice(-30).join('\n')}`);
  };
  await waitFor(() => read.length === batch1.length, 'the first batch read', 60_000).catch(said);

  // Once its commits of the first batch are durable, the node stops.
  const ends = [0, 1].map((p) => first.node.node.log.partition('mqtt', p).highWatermark);
  const cursors = CursorStore.open(dataDir);
  try {
    await waitFor(() => [0, 1].every((p) => cursors.get('kafka:live', 'mqtt', p) === ends[p]), 'the first batch committed', 45_000);
  } finally {
    cursors.close();
  }
  await first.mqtt.endAsync();
  await first.node.close();

  const second = await startNode(t, dataDir, kafkaPort);
  // The restarted node has no members: the consumer's heartbeat is told UNKNOWN_MEMBER_ID, its
  // commit ILLEGAL_GENERATION, and it joins again.
  for (let i = 0; ; i++) {
    const group = await describeGroup(t, kafkaPort, 'live');
    if (group.state === 'Stable' && group.members === 1) break;
    if (i === 600) said(new Error(`the consumer did not join the restarted node's group (${JSON.stringify(group)})`));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const batch2 = await publish(second.mqtt, 6, 10);
  await waitFor(() => read.length >= batch1.length + batch2.length, 'the second batch read after the restart', 60_000).catch(said);
  assert.deepEqual(sorted(read), sorted([...batch1, ...batch2]));
});

/** ConsumerGroupCommand with `args`: its exit code and output (stdout and stderr), failing or not. */
async function groupCommand(classpath: string, bootstrap: string, ...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', bootstrap, ...args], { timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

test('ConsumerGroupCommand --delete-offsets and --delete are refused while a member is in the group, then remove the offsets durably: gone from --list, tributary readers and /api/readers', async (t) => {
  const classpath = await kafkaToolsClasspath();
  const dataDir = tempDir(t);
  const { port, mqtt, node } = await startNode(t, dataDir);
  const bootstrap = `127.0.0.1:${port}`;
  await publish(mqtt, 0, 6);
  for (const group of ['doomed', 'kept']) assert.equal((await kcatGroupToEnd(port, group)).length, 6, group);
  /** The Kafka groups' partitions in cursors.db, read by a connection of its own. */
  const kafkaGroups = (): string[] => {
    const cursors = CursorStore.open(dataDir);
    try {
      return cursors.list().filter((c) => c.group.startsWith('kafka:')).map((c) => `${c.group}/${c.partition}`);
    } finally {
      cursors.close();
    }
  };
  assert.deepEqual(kafkaGroups(), ['kafka:doomed/0', 'kafka:doomed/1', 'kafka:kept/0', 'kafka:kept/1']);

  // A member in the group (kcat -G, subscribed to mqtt): neither is allowed.
  const member = spawn('kcat', ['-b', bootstrap, '-G', 'doomed', '-f', '%s\n', 'mqtt'], { stdio: 'ignore' });
  onCleanup(t, () => void member.kill('SIGKILL'));
  await waitFor(() => node.node.kafka!.groupStats().find((g) => g.groupId === 'doomed')?.members === 1, 'kcat joined doomed', 60_000);
  const notEmpty = await groupCommand(classpath, bootstrap, '--delete', '--group', 'doomed');
  assert.match(notEmpty.output, /GroupNotEmptyException/, notEmpty.output);
  const subscribed = await groupCommand(classpath, bootstrap, '--delete-offsets', '--group', 'doomed', '--topic', 'mqtt');
  assert.deepEqual(subscribed.output.split('\n').filter((l) => /GroupSubscribedToTopicException/.test(l)).map((l) => l.split(/\s+/).slice(0, 2)), [['mqtt', '0'], ['mqtt', '1']], subscribed.output);
  assert.deepEqual(kafkaGroups(), ['kafka:doomed/0', 'kafka:doomed/1', 'kafka:kept/0', 'kafka:kept/1'], 'nothing deleted');

  // The member leaves (kcat's SIGTERM: LeaveGroup): the group is empty now.
  member.kill('SIGTERM');
  await waitFor(() => node.node.kafka!.groupStats().find((g) => g.groupId === 'doomed')?.members === 0, 'kcat left doomed', 60_000);
  const offsetDeleted = await groupCommand(classpath, bootstrap, '--delete-offsets', '--group', 'doomed', '--topic', 'mqtt:0');
  assert.equal(offsetDeleted.code, 0, offsetDeleted.output);
  assert.deepEqual(kafkaGroups(), ['kafka:doomed/1', 'kafka:kept/0', 'kafka:kept/1']);
  const deleted = await groupCommand(classpath, bootstrap, '--delete', '--group', 'doomed');
  assert.match(deleted.output, /Deletion of requested consumer groups \('doomed'\) was successful/, deleted.output);
  const unknown = await groupCommand(classpath, bootstrap, '--delete', '--group', 'never-was');
  assert.match(unknown.output, /GroupIdNotFoundException/, unknown.output);

  assert.deepEqual(kafkaGroups(), ['kafka:kept/0', 'kafka:kept/1'], 'cursors.db, read by another connection');
  const list = await groupCommand(classpath, bootstrap, '--list');
  assert.deepEqual(list.output.split('\n').filter((l) => l === 'doomed' || l === 'kept'), ['kept']);
  const readers = (await (await fetch(`http://127.0.0.1:${node.node.http.port}/api/readers`)).json()) as unknown;
  assert.ok(!JSON.stringify(readers).includes('kafka:doomed') && JSON.stringify(readers).includes('kafka:kept'), JSON.stringify(readers));
  const cli = await runCliAsync(['readers', '--url', `http://127.0.0.1:${node.node.http.port}`]);
  assert.ok(!cli.stdout.includes('kafka:doomed') && cli.stdout.includes('kafka:kept'), cli.stdout);
});
