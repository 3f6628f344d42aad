// The slow disk's cgroup v2 side, where this machine cannot run it (it has cgroup v1's blkio; a
// v2 io controller cannot be had beside it): the cgroup2 mount found in mountinfo, the io.max rule
// and the write count read from io.stat, in the kernel's formats (Documentation/admin-guide/cgroup-v2.rst).
// The throttle itself, on whichever version the machine has, is checked by nemesis.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroup2MountPoint, ioMaxLine, slowDiskUnavailable, writeOpsInIoStat } from './slow-disk.js';

test('cgroup v2: the unified hierarchy\'s mount point from mountinfo (pure v2, hybrid, none)', () => {
  const pure = [
    '22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw',
    '26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
  ].join('\n');
  assert.equal(cgroup2MountPoint(pure), '/sys/fs/cgroup');
  const hybrid = [
    '30 26 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    '31 26 0:27 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,blkio',
  ].join('\n');
  assert.equal(cgroup2MountPoint(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2MountPoint('31 26 0:27 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio'), null);
});

test('cgroup v2: the io.max rule for write operations (and bytes) a second, and the write count in io.stat', () => {
  assert.equal(ioMaxLine('8:0', 20), '8:0 wiops=20');
  assert.equal(ioMaxLine('259:0', 5, 1_048_576), '259:0 wiops=5 wbps=1048576');
  const ioStat = ['8:16 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0', '8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0', ''].join('\n');
  assert.equal(writeOpsInIoStat(ioStat, '8:0'), 353);
  assert.equal(writeOpsInIoStat(ioStat, '8:16'), 0);
  assert.equal(writeOpsInIoStat(ioStat, '259:0'), 0, 'a disk the group has not written to yet');
});

test('on this machine a slow disk is available as root (cgroup v1 blkio, or v2 io), and says why not otherwise', () => {
  const why = slowDiskUnavailable();
  if (process.getuid?.() !== 0) assert.match(why ?? '', /needs root/);
  else if (process.env.REQUIRE_NETNS_TESTS === '1') assert.equal(why, null);
  else assert.ok(why === null || /cgroup/.test(why));
});
