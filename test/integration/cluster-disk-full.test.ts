// A follower whose disk is full (docs/replication.md, "A follower whose disk is full"): three real
// `tributary start` processes on loopback, one of them on a small tmpfs of its own that the test
// fills for real (test/helpers/replicas.ts, tinyDisk).
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { test } from 'node:test';
import { check } from '../helpers/cluster/checker.js';
import { idOf, progress, Publisher } from '../helpers/cluster/publishers.js';
import { readReplica } from '../helpers/cluster/replica.js';
import { sample } from '../helpers/metrics-text.js';
import { startReplicas, waitForLeader, waitForReplicated, type ClusterStatusJson, type Replica } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

/** Writes `path` until the file system has no room left; the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 1 << 12]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15) in clock ticks
}

async function statusUntil(replica: Replica, ok: (s: ClusterStatusJson) => boolean, what: string): Promise<ClusterStatusJson> {
  let last: ClusterStatusJson | null = null;
  const met = async (): Promise<boolean> => {
    last = await replica.status();
    return last !== null && ok(last);
  };
  if (await pollUntil(met, PATIENCE_MS, 50)) return last!;
  throw new Error(`${what}: ${JSON.stringify(last)}`);
}

test('a follower whose disk is full stops storing, says so (status, metric, one TRIB_ log line), probes without a hot loop while the leader and the other follower go on acknowledging, and catches up once space returns', async (t) => {
  // n3's data directory is a 24 MiB tmpfs; no free-space floor, so the disk really fills.
  const replicas = await startReplicas(t, 3, { tinyDisk: { index: 2, sizeMb: 24 }, extraYaml: 'log: { disk: { minFreeBytes: null } }\n' });
  const tiny = replicas[2]!;
  let leader = await waitForLeader(replicas);
  if (leader === tiny) {
    // The disk to fill must be a follower's: hand the lead over (its tmpfs comes back empty; it catches up).
    await tiny.stop();
    await waitForLeader(replicas.slice(0, 2));
    await tiny.restart();
    leader = await waitForLeader(replicas);
  }
  const other = replicas.find((r) => r !== leader && r !== tiny)!;
  const targets = replicas.map((r) => ({ node: r.id, url: `mqtt://127.0.0.1:${r.mqttPort}` }));
  const publishers = ['d1', 'd2'].map((name) => new Publisher(name, 1, targets));
  for (const p of publishers) p.start();
  t.after(() => Promise.all(publishers.map((p) => p.stop())));
  await progress(publishers, 100);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);

  // The disk fills (a file beside the log, written through the node's own mount namespace).
  const filler = `/proc/${tiny.child.pid}/root${tiny.dir}/filler`;
  assert.ok(fill(filler) > 0);
  t.after(() => rmSync(filler, { force: true }));

  // The leader and the other follower keep acknowledging.
  await progress(publishers, 300);
  const full = await statusUntil(tiny, (s) => s.diskFull !== null, 'the follower says it cannot store');
  assert.equal(full.role, 'follower');
  assert.match(full.diskFull!.code, /^TRIB_LOG_DISK_(FULL|BUDGET)$/);
  const metrics = await (await fetch(`http://127.0.0.1:${tiny.httpPort}/metrics`)).text();
  assert.equal(sample(metrics, 'tributary_cluster_follower_disk_full'), 1);
  const atLeader = await statusUntil(leader, (s) => s.followers.some((f) => f.id === tiny.id && !f.inSync) && s.underReplicatedPartitions > 0, 'the leader counts it out of sync');
  assert.ok(atLeader.followers.find((f) => f.id === other.id)!.inSync, 'the other follower stays in sync');

  // Blocked for a while under load: one log line, a probe every quarter of the election timeout.
  const cpuBefore = cpuSeconds(tiny.child.pid!);
  const blockedFrom = Date.now();
  await progress(publishers, 1000);
  const blockedMs = Date.now() - blockedFrom;
  t.diagnostic(`the full follower used ${(cpuSeconds(tiny.child.pid!) - cpuBefore).toFixed(2)} CPU s in ${blockedMs} ms blocked under load (not asserted)`);
  assert.equal(tiny.child.exitCode, null, 'the follower is still running');
  assert.notEqual((await tiny.status())!.diskFull, null, 'still full');
  const said = tiny.output().split('\n').filter((line) => line.includes('TRIB_CLUSTER_FOLLOWER_DISK_FULL'));
  assert.equal(said.length, 1, `said once:\n${tiny.output().slice(-3000)}`);

  // Space returns: it stores again and catches up.
  unlinkSync(filler);
  await statusUntil(tiny, (s) => s.diskFull === null, 'it stores again');
  await progress(publishers, 100);
  await Promise.all(publishers.map((p) => p.stop()));
  const last = await waitForLeader(replicas);
  await waitForReplicated(replicas, (await last.status())!.last.seq);
  await statusUntil(last, (s) => s.underReplicatedPartitions === 0, 'nothing under-replicated once it caught up');
  const stored = await Promise.all(replicas.map((r) => readReplica(r.id, `http://127.0.0.1:${r.httpPort}`, null, 'mqtt', idOf)));
  const report = check(publishers.flatMap((p) => p.sent), stored, { reference: last.id });
  t.diagnostic(report.summary);
  assert.ok(report.lost.length === 0 && report.divergent.length === 0 && report.orderViolations.length === 0, report.summary);
  for (const r of stored) assert.equal(r.records.length, stored[0]!.records.length, `${r.node} holds as many records as ${stored[0]!.node}`);
});
