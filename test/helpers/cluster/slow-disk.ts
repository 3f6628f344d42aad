// A slow disk for one node process (issue 17's fault list): the kernel's block-I/O throttle on a
// cgroup holding the process, so that its writes (the log's WAL appends and fsyncs, from its
// writer thread too: a cgroup holds every thread of a process) get a few I/O operations a second.
// No FUSE, no preload, no hook in Tributary: the process's real I/O is slowed where it meets the
// disk. With cgroup v1 (`blkio.throttle.write_iops_device`) writes issued by the process itself are
// throttled, which is what an fsync does (the page cache's own write-back is not charged to it in v1,
// but every acknowledged write passes through the node's fsync).
//
// Needs root and the blkio controller mounted at /sys/fs/cgroup/blkio; `slowDiskUnavailable()`
// says why not otherwise. The cgroup is named `trb<pid>-slow-<name>`; a crashed run's ones (its
// pid gone) are removed by the next `SlowDisk.create`. Nothing here is netem: the kernel of our
// build machines has no sch_netem, and a network delay would not slow a disk anyway.
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { onCleanup } from '../cleanup.js';
import { PREFIX } from './network.js';

const BLKIO = '/sys/fs/cgroup/blkio';

/** Why a slow disk cannot be made here, or null when it can. */
export function slowDiskUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'a slow disk needs root (cgroup blkio throttle)';
  if (!existsSync(join(BLKIO, 'blkio.throttle.write_iops_device'))) return `no cgroup v1 blkio throttle at ${BLKIO} (a slow disk needs it)`;
  return null;
}

/** `MAJ:MIN` of the whole disk holding `path` (the throttle takes disks, not partitions). */
export function diskOf(path: string): string {
  const dev = statSync(path).dev;
  // Linux's dev_t: major in bits 8-19 (and 32+), minor in bits 0-7 and 20-31.
  const major = Number((BigInt(dev) >> 8n) & 0xfffn);
  const minor = Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & 0xfff00n));
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (existsSync(join(sys, 'partition'))) return readFileSync(join(sys, '..', 'dev'), 'utf8').trim();
  return `${major}:${minor}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Moves a group's processes back to the root group. */
function release(dir: string): void {
  for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '')) {
    try {
      writeFileSync(join(BLKIO, 'cgroup.procs'), pid);
    } catch {
      // exited meanwhile
    }
  }
}

function removeGroup(dir: string): void {
  release(dir);
  rmdirSync(dir);
}

export class SlowDisk {
  readonly #dir: string;
  readonly #disk: string;
  #closed = false;

  private constructor(dir: string, disk: string) {
    this.#dir = dir;
    this.#disk = disk;
  }

  /** A throttle group for the disk that holds `path`, removed when the test ends. */
  static create(t: TestContext, name: string, path: string): SlowDisk {
    const why = slowDiskUnavailable();
    if (why !== null) throw new Error(why);
    for (const entry of readdirSync(BLKIO)) {
      const owner = /^trb(\d+)-slow-/.exec(entry);
      if (owner !== null && !pidAlive(Number(owner[1]))) removeGroup(join(BLKIO, entry));
    }
    const dir = join(BLKIO, `${PREFIX}${process.pid}-slow-${name}`);
    mkdirSync(dir, { recursive: true });
    const disk = new SlowDisk(dir, diskOf(path));
    onCleanup(t, () => disk.destroy());
    return disk;
  }

  /** Throttles the process `pid` (every thread) to `writeIops` write operations a second. */
  slow(pid: number, writeIops: number): void {
    writeFileSync(join(this.#dir, 'blkio.throttle.write_iops_device'), `${this.#disk} ${writeIops}`);
    writeFileSync(join(this.#dir, 'cgroup.procs'), String(pid));
  }

  /** Lifts the throttle: the group's processes go back to the root group, the rule is removed. */
  heal(): void {
    release(this.#dir);
    writeFileSync(join(this.#dir, 'blkio.throttle.write_iops_device'), `${this.#disk} 0`);
  }

  /** Write operations the group's processes issued, as the kernel counted them. */
  writes(): number {
    const line = readFileSync(join(this.#dir, 'blkio.throttle.io_serviced'), 'utf8').split('\n').find((l) => l.startsWith(`${this.#disk} Write `));
    return line === undefined ? 0 : Number(line.split(' ')[2]);
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (existsSync(this.#dir)) removeGroup(this.#dir);
  }
}
