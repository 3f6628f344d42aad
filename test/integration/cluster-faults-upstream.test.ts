// Replication under flapping links and slow disks, forwarding to a real Kafka (issue 17,
// docs/replication.md "Replication under faults", test 4): three `tributary start` nodes in network
// namespaces forwarding (exactly once, as the cluster) to a Kafka on the harness network's bridge;
// the publishers of cluster-faults.test.ts throughout; the leader's links to its peers flapping,
// then a follower's, then a follower's disk and the leader's disk throttled (the kernel's blkio
// throttle, test/helpers/cluster/slow-disk.ts). The checkers of cluster-faults.test.ts, and the
// central Kafka's: every edge record upstream once, with its bytes. Its own file: with Kafka's
// start it takes a minute or two, and a test file has three minutes.
// Root only, and the blkio throttle (cgroup v1); CI runs as root with REQUIRE_NETNS_TESTS=1, which
// turns a missing throttle into a failure.
import { test } from 'node:test';
import { waitForLeader } from '../helpers/cluster/cluster-status.js';
import { Nemesis, type Fault } from '../helpers/cluster/nemesis.js';
import { skipUnlessNetns } from '../helpers/cluster/network.js';
import { progress } from '../helpers/cluster/publishers.js';
import { checkAll, startCluster } from '../helpers/cluster/scenario.js';
import { SlowDisk, slowDiskUnavailable } from '../helpers/cluster/slow-disk.js';
import { waitFor } from '../helpers/wait-for.js';

const netnsSkip = skipUnlessNetns();
const skip = netnsSkip === false ? slowDiskUnavailable() ?? false : netnsSkip;
if (skip !== false && netnsSkip === false && process.env.REQUIRE_NETNS_TESTS === '1') throw new Error(`REQUIRE_NETNS_TESTS=1 but ${skip}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('flapping links and a slow disk under load, forwarding to a real Kafka: nothing acknowledged lost, one leader per epoch, the central Kafka holds the edge log exactly once', { skip }, async (t) => {
  const { net, nodes, publishers, kafka } = await startCluster(t, { upstream: true });
  const disk = SlowDisk.create(t, 'faults', nodes[0]!.dataDir);
  const nemesis = new Nemesis(net, nodes, disk);
  // Flapping cadences below and near the election timeout (1.5 s); slow disks of 5 and 20 writes/s.
  const schedule: Fault[] = [
    { kind: 'flap', target: 'leader', periodMs: 1200 },
    { kind: 'flap', target: 'follower', periodMs: 400 },
    { kind: 'slow-disk', target: 'follower', writeIops: 5 },
    { kind: 'slow-disk', target: 'leader', writeIops: 20 },
  ];
  try {
    for (const fault of schedule) {
      await waitForLeader(nodes);
      const writesBefore = disk.writes();
      await nemesis.apply(fault);
      await progress(publishers, 30); // a majority is always left (between flips, for a flapping link)
      if (fault.kind === 'flap') await sleep(fault.periodMs * 4); // a few more cuts and heals
      // The throttle was real: the kernel counted the slowed node's writes in the throttled group.
      // Waited for, not read once: a follower just back from a flapping link may still be catching
      // up (or backing off) when the 30 acknowledgements above have come from the other two.
      if (fault.kind === 'slow-disk') await waitFor(() => disk.writes() > writesBefore, 'a write of the slowed node through the throttle');
      await nemesis.heal();
      await waitForLeader(nodes);
      await progress(publishers, 10);
    }
    await checkAll(t, nodes, publishers, 'flapping links, slow disks, upstream', kafka);
  } finally {
    t.diagnostic(`nemesis log: ${nemesis.log.join('; ')}`);
  }
});
