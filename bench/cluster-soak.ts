// `npm run soak:cluster`: the fault harness (test/helpers/cluster/) for longer than a test runs.
// Three `tributary start` nodes in network namespaces under MQTT load (two QoS 1 and two QoS 2
// publishers), forwarding to a real Kafka with --upstream; faults drawn from a seed, one at a time,
// each held until the publishers made progress (a flapping link a few cuts longer), then healed;
// when the time is up, the publishers stop and the checkers run: nothing acknowledged lost, order,
// replicas identical, one acknowledging node per epoch, QoS 2 stored at most once per sending (a
// resend is a new session), and with --upstream the central Kafka holding the edge log once.
//
//   npm run soak:cluster -- [--seed 42] [--minutes 10] [--kinds kill,pause,...] [--upstream]
//
// The nodes are initialised (`tributary cluster init`) before their first start, as an install does
// (test/helpers/cluster/node-process.ts); a node the nemesis restarts wiped is not, as a member that
// lost its disk is not.
// Root only (namespaces, nftables, the blkio throttle for slow disks). Prints what it does as it
// goes, the checkers' summaries, and last one JSON line:
//   {"bench":"cluster-soak","seed":..,"minutes":..,"faults":[..],"acked":..,"lost":..,"duplicated":{..},..,"verdict":"ok"}
// Exits 1 when a check fails or the cluster stops making progress; a failing seed replays with --seed.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { TestContext } from 'node:test';
import { statusOf, waitForLeader } from '../test/helpers/cluster/cluster-status.js';
import type { NodeProcess } from '../test/helpers/cluster/node-process.js';
import { ALL_FAULT_KINDS, describeFault, faultSchedule, Nemesis, type FaultKind } from '../test/helpers/cluster/nemesis.js';
import { netnsUnavailable } from '../test/helpers/cluster/network.js';
import { progress } from '../test/helpers/cluster/publishers.js';
import { checkCluster, startCluster, type Findings } from '../test/helpers/cluster/scenario.js';
import { SlowDisk, slowDiskUnavailable } from '../test/helpers/cluster/slow-disk.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    minutes: { type: 'string', default: '10' },
    kinds: { type: 'string' },
    upstream: { type: 'boolean', default: false },
  },
});
const seed = values.seed!;
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes: '${values.minutes}' is not a positive number`);
const why = netnsUnavailable();
if (why !== null) {
  process.stderr.write(`cluster-soak: ${why}\n`);
  process.exit(2);
}
const diskWhy = slowDiskUnavailable();
const kinds = (values.kinds?.split(',') ?? ALL_FAULT_KINDS.filter((k) => k !== 'slow-disk' || diskWhy === null)) as FaultKind[];
for (const kind of kinds) if (!ALL_FAULT_KINDS.includes(kind)) throw new Error(`--kinds: unknown fault '${kind}' (${ALL_FAULT_KINDS.join(', ')})`);
if (kinds.includes('slow-disk') && diskWhy !== null) throw new Error(`--kinds slow-disk: ${diskWhy}`);

const say = (line: string): void => void process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU ticks (user + system) the process used so far, from /proc. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * For a stall: what each node that does not answer GET /api/cluster is doing, from the kernel's
 * view (its state, and whether it used CPU in a second). With NODE_OPTIONS=--report-on-signal the
 * node also writes a diagnostic report (its JavaScript stack) on the SIGUSR2 sent here.
 */
async function describeSilentNodes(nodes: readonly NodeProcess[]): Promise<void> {
  for (const node of nodes) {
    if ((await statusOf(node)) !== null) continue;
    const pid = node.pid;
    if (!node.running || pid === undefined) {
      say(`n${node.at.index} is not running (${node.ended ?? 'never started'}); its output ends: ${node.output.slice(-2000)}`);
      continue;
    }
    const state = /^State:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
    const before = cpuTicks(pid);
    await sleep(1000);
    say(`n${node.at.index} (pid ${pid}) does not answer: state ${state}, ${cpuTicks(pid) - before} CPU ticks in 1 s; its output ends: ${node.output.slice(-1500)}`);
    if (process.env.NODE_OPTIONS?.includes('--report-on-signal') === true) process.kill(pid, 'SIGUSR2');
  }
}

/** The harness's helpers take a test context for their clean-ups; this one runs them at the end, in order, like node:test. */
const hooks: Array<() => unknown> = [];
const scope = { after: (fn: () => unknown) => void hooks.push(fn), diagnostic: (message: string) => say(message) } as unknown as TestContext;
let cleaning: Promise<void> | null = null;
const cleanUp = (): Promise<void> =>
  (cleaning ??= (async () => {
    for (const hook of hooks) {
      try {
        await hook();
      } catch (err) {
        process.stderr.write(`cluster-soak: clean-up: ${(err as Error).message}\n`);
      }
    }
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().then(() => process.exit(130)));

const started = Date.now();
let verdict: 'ok' | 'failed' | 'stalled' = 'ok';
let stalled: string | null = null;
let findings: Findings | null = null;
let nemesis: Nemesis | null = null;
try {
  say(`seed ${seed}, ${minutes} min, faults from ${kinds.join(', ')}${values.upstream ? ', forwarding to Kafka' : ''}${diskWhy === null ? '' : ` (no slow disk: ${diskWhy})`}`);
  const { net, nodes, publishers, kafka } = await startCluster(scope, { upstream: values.upstream });
  nemesis = new Nemesis(net, nodes, diskWhy === null ? SlowDisk.create(scope, 'soak', nodes[0]!.dataDir) : null);
  const acked = (): number => publishers.reduce((n, p) => n + p.acked, 0);
  // Enough faults for any duration; the loop ends when the time is up.
  const schedule = faultSchedule(seed, 10_000, kinds);
  for (const fault of schedule) {
    if (Date.now() - started > minutes * 60_000) break;
    try {
      await waitForLeader(nodes);
      const node = await nemesis.apply(fault);
      say(`${describeFault(fault, node.at.index)} (${acked()} acknowledged so far)`);
      await progress(publishers, 30);
      if (fault.kind === 'flap') await sleep(fault.periodMs * 4);
      await nemesis.heal();
      await waitForLeader(nodes);
      await progress(publishers, 10);
    } catch (err) {
      stalled = `${describeFault(fault)}: ${(err as Error).message}`;
      say(`no progress: ${stalled}`);
      await describeSilentNodes(nodes);
      await nemesis.heal();
      break;
    }
  }
  say(`healed; checking (${acked()} acknowledged)`);
  findings = await checkCluster(scope, nodes, publishers, kafka);
  for (const line of [findings.report.summary, findings.epochs.summary, findings.upstream?.summary]) if (line !== undefined) say(line);
  const byId = new Map(findings.history.map((op) => [op.id, op]));
  for (const d of findings.unexplainedQos2) {
    const attempts = byId.get(d.id)!.attempts.map((a) => `n${a.node.slice(1)} at ${new Date(a.sentAt).toISOString().slice(11, 23)} (epoch at connect ${a.epochAtConnect ?? '?'}, ${a.ackedAt === null ? 'no PUBCOMP' : 'PUBCOMP'})`);
    say(`QoS 2 ${d.id} stored ${d.copies} times, sent ${attempts.length}: ${attempts.join('; ')}`);
  }
  const failed =
    !findings.report.ok && (findings.report.lost.length > 0 || findings.report.orderViolations.length > 0 || findings.report.divergent.length > 0 || findings.unexplainedQos2.length > 0);
  verdict = stalled !== null ? 'stalled' : failed || !findings.epochs.ok || findings.upstream?.ok === false ? 'failed' : 'ok';
} catch (err) {
  verdict = 'failed';
  stalled ??= (err as Error).message;
  say(`failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await cleanUp();
}

const report = findings?.report;
process.stdout.write(
  `${JSON.stringify({
    bench: 'cluster-soak',
    seed,
    minutes,
    ranSeconds: Math.round((Date.now() - started) / 1000),
    faults: nemesis?.log.filter((l) => l !== 'heal') ?? [],
    acked: report?.acknowledged ?? null,
    lost: report?.lost.length ?? null,
    duplicated: report === undefined ? null : { qos1: report.qos1Duplicates, qos2: report.qos2Duplicates.length, qos2BeyondSendings: findings!.unexplainedQos2.length },
    orderViolations: report?.orderViolations.length ?? null,
    divergent: report?.divergent.length ?? null,
    epochs: findings === null ? null : { count: findings.epochs.epochs.length, shared: findings.epochs.shared.length, notTheLeader: findings.epochs.notTheLeader.length, otherEpochThanAtConnect: findings.epochs.otherEpochThanAtConnect.length },
    upstream: findings?.upstream === undefined || findings.upstream === null ? null : { forwarded: findings.upstream.forwarded, missing: findings.upstream.missing.length, twice: findings.upstream.twice.length, differing: findings.upstream.differing.length },
    stalled,
    verdict,
  })}\n`,
);
process.exit(verdict === 'ok' ? 0 : 1);
