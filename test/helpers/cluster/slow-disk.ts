// A slow disk for one node process (issue 17's fault list): the kernel's block-I/O throttle on a
// cgroup holding the process, so that its writes (the log's WAL appends and fsyncs, from its
// writer thread too: a cgroup holds every thread of a process) get a few I/O operations a second.
// No FUSE, no preload, no hook in Tributary: the process's real I/O is slowed where it meets the
// disk. With cgroup v1 (`blkio.throttle.write_iops_device`) writes issued by the process itself are
// throttled, which is what an fsync does (the page cache's own write-back is not charged to it in v1,
// but every acknowledged write passes through the node's fsync).
//
// A machine with only cgroup v2 (the unified hierarchy) gets the `io` controller's `io.max`
// (`MAJ:MIN wiops=N`, and `wbps=N` bytes a second when asked) on a group under the hierarchy's
// root instead, its writes counted from `io.stat` (`wios`). In v2 the page cache's write-back of the
// group's dirty pages is charged to it too (with the memory controller on), so it slows a little
// more than v1 does. cgroup v1's blkio is used wherever it is mounted, as before.
//
// Needs root and the blkio controller mounted at /sys/fs/cgroup/blkio (v1), or a cgroup2 mount
// whose root offers the `io` controller (v2; `+io` is then written to the root's
// cgroup.subtree_control, and left there); `slowDiskUnavailable()` says why not otherwise. The
// cgroup is named `trb<pid>-slow-<name>`; a crashed run's ones (its pid gone) are removed by the
// next `SlowDisk.create`. Nothing here is netem: the kernel of our build machines has no
// sch_netem, and a network delay would not slow a disk anyway.
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { onCleanup } from '../cleanup.js';
import { PREFIX } from './network.js';

const BLKIO = '/sys/fs/cgroup/blkio';

/** How one cgroup version throttles a group's writes to a disk and counts them. */
interface Throttle {
  /** The hierarchy's root: groups are made under it, and released processes go back to it. */
  readonly root: string;
  /** The rule for `writeIops` write operations (and `writeBps` bytes, when given) a second. */
  limit(dir: string, disk: string, writeIops: number, writeBps?: number): void;
  unlimit(dir: string, disk: string): void;
  writes(dir: string, disk: string): number;
}

/** cgroup v1's blkio throttle (as before cgroup v2 was added). */
const blkioV1: Throttle = {
  root: BLKIO,
  limit: (dir, disk, writeIops, writeBps) => {
    writeFileSync(join(dir, 'blkio.throttle.write_iops_device'), `${disk} ${writeIops}`);
    if (writeBps !== undefined) writeFileSync(join(dir, 'blkio.throttle.write_bps_device'), `${disk} ${writeBps}`);
  },
  unlimit: (dir, disk) => {
    writeFileSync(join(dir, 'blkio.throttle.write_iops_device'), `${disk} 0`);
    writeFileSync(join(dir, 'blkio.throttle.write_bps_device'), `${disk} 0`);
  },
  writes: (dir, disk) => {
    const line = readFileSync(join(dir, 'blkio.throttle.io_serviced'), 'utf8').split('\n').find((l) => l.startsWith(`${disk} Write `));
    return line === undefined ? 0 : Number(line.split(' ')[2]);
  },
};

/** cgroup v2's io controller, on the unified hierarchy mounted at `root`. */
function ioV2(root: string): Throttle {
  return {
    root,
    limit: (dir, disk, writeIops, writeBps) => writeFileSync(join(dir, 'io.max'), ioMaxLine(disk, writeIops, writeBps)),
    unlimit: (dir, disk) => writeFileSync(join(dir, 'io.max'), `${disk} wiops=max wbps=max`),
    writes: (dir, disk) => writeOpsInIoStat(readFileSync(join(dir, 'io.stat'), 'utf8'), disk),
  };
}

/** cgroup v2's io.max rule: `MAJ:MIN wiops=N` (and `wbps=N`). */
export function ioMaxLine(disk: string, writeIops: number, writeBps?: number): string {
  return `${disk} wiops=${writeIops}${writeBps === undefined ? '' : ` wbps=${writeBps}`}`;
}

/** The write operations of `disk` in a cgroup v2 io.stat (`MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..`); 0: none yet. */
export function writeOpsInIoStat(ioStat: string, disk: string): number {
  const line = ioStat.split('\n').find((l) => l.startsWith(`${disk} `));
  const wios = line === undefined ? undefined : /(?:^| )wios=(\d+)/.exec(line);
  return wios == null ? 0 : Number(wios[1]);
}

/** Where the cgroup v2 (unified) hierarchy is mounted, from a mountinfo's lines; null: nowhere. */
export function cgroup2MountPoint(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [mount, source] = line.split(' - ');
    // mountinfo: id parent major:minor root mount-point options... - fstype source super-options
    if (source?.startsWith('cgroup2 ')) return mount!.split(' ')[4] ?? null;
  }
  return null;
}

/** The throttle this machine offers: cgroup v1's blkio where mounted, else v2's io; or why neither. */
function throttleHere(): Throttle | string {
  if (existsSync(join(BLKIO, 'blkio.throttle.write_iops_device'))) return blkioV1;
  const root = cgroup2MountPoint(readFileSync('/proc/self/mountinfo', 'utf8'));
  if (root === null) return `no cgroup v1 blkio throttle at ${BLKIO} and no cgroup v2 mount (a slow disk needs one)`;
  const controllers = readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(' ');
  if (!controllers.includes('io')) return `no cgroup v1 blkio throttle at ${BLKIO}, and the cgroup v2 hierarchy at ${root} offers no io controller (controllers: ${controllers.join(' ') || 'none'})`;
  return ioV2(root);
}

/** Why a slow disk cannot be made here, or null when it can. */
export function slowDiskUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'a slow disk needs root (cgroup blkio or io throttle)';
  const throttle = throttleHere();
  return typeof throttle === 'string' ? throttle : null;
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

/** The processes in a group. */
function procsOf(dir: string): string[] {
  return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '');
}

/** Moves a group's processes back to the root group. */
function release(root: string, dir: string): void {
  for (const pid of procsOf(dir)) {
    try {
      writeFileSync(join(root, 'cgroup.procs'), pid);
    } catch {
      // exited meanwhile
    }
  }
}

function removeGroup(root: string, dir: string): void {
  release(root, dir);
  rmdirSync(dir);
}

export class SlowDisk {
  readonly #dir: string;
  readonly #disk: string;
  readonly #throttle: Throttle;
  #closed = false;

  private constructor(dir: string, disk: string, throttle: Throttle) {
    this.#dir = dir;
    this.#disk = disk;
    this.#throttle = throttle;
  }

  /** A throttle group for the disk that holds `path`, removed when the test ends. */
  static create(t: TestContext, name: string, path: string): SlowDisk {
    const why = slowDiskUnavailable();
    if (why !== null) throw new Error(why);
    const throttle = throttleHere() as Throttle;
    const root = throttle.root;
    for (const entry of readdirSync(root)) {
      const owner = /^trb(\d+)-slow-/.exec(entry);
      if (owner !== null && !pidAlive(Number(owner[1]))) removeGroup(root, join(root, entry));
    }
    if (throttle !== blkioV1) enableIo(root);
    const dir = join(root, `${PREFIX}${process.pid}-slow-${name}`);
    mkdirSync(dir, { recursive: true });
    const disk = new SlowDisk(dir, diskOf(path), throttle);
    onCleanup(t, () => disk.destroy());
    return disk;
  }

  /** Which cgroup version throttles here: 1 (blkio) or 2 (io.max). */
  get cgroupVersion(): 1 | 2 {
    return this.#throttle === blkioV1 ? 1 : 2;
  }

  /** Throttles the process `pid` (every thread) to `writeIops` write operations (and `writeBps` bytes, when given) a second. */
  slow(pid: number, writeIops: number, writeBps?: number): void {
    this.#throttle.limit(this.#dir, this.#disk, writeIops, writeBps);
    writeFileSync(join(this.#dir, 'cgroup.procs'), String(pid));
  }

  /** Whether the process `pid` is in the throttled group. */
  holds(pid: number): boolean {
    return procsOf(this.#dir).includes(String(pid));
  }

  /** Lifts the throttle: the group's processes go back to the root group, the rule is removed. */
  heal(): void {
    release(this.#throttle.root, this.#dir);
    this.#throttle.unlimit(this.#dir, this.#disk);
  }

  /** Write operations the group's processes issued, as the kernel counted them. */
  writes(): number {
    return this.#throttle.writes(this.#dir, this.#disk);
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (existsSync(this.#dir)) removeGroup(this.#throttle.root, this.#dir);
  }
}

/**
 * cgroup v2: the io controller for the root's children (`+io` in its cgroup.subtree_control).
 * The root may hold processes itself (no-internal-process rule does not apply to it); in a
 * container whose cgroup root is an inner group with processes the kernel refuses (EBUSY), said.
 */
function enableIo(root: string): void {
  const file = join(root, 'cgroup.subtree_control');
  if (readFileSync(file, 'utf8').trim().split(' ').includes('io')) return;
  try {
    writeFileSync(file, '+io');
  } catch (err) {
    throw new Error(`cannot enable the cgroup v2 io controller for ${root}'s groups (${(err as Error).message}); a slow disk needs it`, { cause: err });
  }
}
