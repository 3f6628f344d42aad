// The harness's nemesis (Jepsen's word): faults drawn from a seed, so that a failing run can be
// replayed with the same seed, applied to a cluster's namespaces and processes, and healed.
//
// A fault names its target as a role ('leader', 'follower') or a node index; roles are resolved
// when the fault is applied, from GET /api/cluster/role (200 on the leader). Where no node answers
// 200 (one-node nodes, or no leader at that moment), 'leader' is node 0 and 'follower' node 1.
import { request } from 'node:http';
import { Random } from '../../../device-sim/random.js';
import type { Direction, Network } from './network.js';
import { CLUSTER_TOKEN, type NodeProcess } from './node-process.js';
import type { SlowDisk } from './slow-disk.js';

export type Target = 'leader' | 'follower' | number;

export type Fault =
  /** SIGKILL; the node stays down until heal() restarts it on the same data directory. */
  | { kind: 'kill'; target: Target }
  /** SIGSTOP until heal() (SIGCONT). */
  | { kind: 'pause'; target: Target }
  /** Nothing in or out (clients and peers alike), or one way. */
  | { kind: 'isolate'; target: Target; direction: Direction }
  /** Cut off from the other nodes while clients still reach it (the split leader). */
  | { kind: 'cut-from-peers'; target: Target; direction: Direction }
  /** A share of what the node sends is dropped. */
  | { kind: 'loss'; target: Target; share: number }
  /** SIGKILL, data directory emptied, started again at once: it must catch up from the others. */
  | { kind: 'restart-wiped'; target: Target }
  /** Cut off from its peers and healed again, every `periodMs`, until heal(): a flapping link. */
  | { kind: 'flap'; target: Target; periodMs: number }
  /** Its disk throttled to `writeIops` write operations a second (slow-disk.ts) until heal(). */
  | { kind: 'slow-disk'; target: Target; writeIops: number };

export type FaultKind = Fault['kind'];

/** The kinds a schedule draws from by default (the seeds the docs name replay with these). */
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'isolate', 'cut-from-peers', 'loss', 'restart-wiped'];
/** Every kind; a Nemesis needs a SlowDisk for 'slow-disk'. */
export const ALL_FAULT_KINDS: readonly FaultKind[] = [...FAULT_KINDS, 'flap', 'slow-disk'];
/** The flapping cadences drawn from: below, near and above the default election timeout (1.5 s). */
export const FLAP_PERIODS_MS: readonly number[] = [400, 1200, 2500];

/** `count` faults from `seed`: the same seed, kinds and count give the same list. */
export function faultSchedule(seed: string | number, count: number, kinds: readonly FaultKind[] = FAULT_KINDS): Fault[] {
  const random = Random.derive(seed, 'nemesis');
  const directions: Direction[] = ['both', 'in', 'out'];
  return Array.from({ length: count }, (): Fault => {
    const kind = random.pick(kinds);
    const target = random.pick<Target>(['leader', 'follower']);
    switch (kind) {
      case 'isolate':
      case 'cut-from-peers':
        return { kind, target, direction: random.pick(directions) };
      case 'loss':
        return { kind, target, share: random.pick([0.1, 0.3, 0.5]) };
      case 'flap':
        return { kind, target, periodMs: random.pick(FLAP_PERIODS_MS) };
      case 'slow-disk':
        return { kind, target, writeIops: random.pick([10, 20, 50]) };
      default:
        return { kind, target };
    }
  });
}

export function describeFault(fault: Fault, node?: number): string {
  const where = typeof fault.target === 'number' ? `node ${fault.target}` : `the ${fault.target}${node === undefined ? '' : ` (node ${node})`}`;
  const detail =
    'direction' in fault
      ? ` (${fault.direction})`
      : 'share' in fault
        ? ` (${fault.share * 100} %)`
        : 'periodMs' in fault
          ? ` (every ${fault.periodMs} ms)`
          : 'writeIops' in fault
            ? ` (${fault.writeIops} writes/s)`
            : '';
  return `${fault.kind} ${where}${detail}`;
}

/**
 * The role a node reports, or null when it does not answer 200/503 with one (down, one-node, paused).
 * A node cut off never answers, so the wait is bounded; but generously: a running leader that a loaded
 * machine answers late must not be taken for a silent one (the fault would then hit another node).
 */
async function roleOf(node: NodeProcess): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(new URL('/api/cluster/role', node.httpUrl), { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` }, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          const answer = res.statusCode === 200 || res.statusCode === 503 ? (JSON.parse(body) as { role?: string; clustered?: boolean }) : null;
          // A node without a cluster block answers 200 "leader" (it leads itself, for keepalived's
          // check): that is no role among several nodes.
          resolve(answer === null || answer.clustered === false ? null : (answer.role ?? null));
        } catch {
          resolve(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

export class Nemesis {
  readonly #killed = new Set<NodeProcess>();
  readonly #paused = new Set<NodeProcess>();
  #flapping: { timer: NodeJS.Timeout; node: NodeProcess; flips: number } | null = null;
  #slowed = false;
  /** What was applied, in order, with the node each hit: the run's account of itself. */
  readonly log: string[] = [];

  constructor(
    private readonly net: Network,
    private readonly nodes: readonly NodeProcess[],
    private readonly slowDisk: SlowDisk | null = null,
  ) {}

  /** The node a target names now. */
  async resolve(target: Target): Promise<NodeProcess> {
    if (typeof target === 'number') return this.nodes[target]!;
    const up = this.nodes.filter((n) => n.running && !this.#paused.has(n));
    const roles = await Promise.all(up.map(roleOf));
    const leader = up.find((_, i) => roles[i] === 'leader') ?? this.nodes[0]!;
    if (target === 'leader') return leader;
    return up.find((n) => n !== leader) ?? this.nodes.find((n) => n !== leader) ?? leader;
  }

  /** Applies a fault; returns the node it hit. */
  async apply(fault: Fault): Promise<NodeProcess> {
    const node = await this.resolve(fault.target);
    this.log.push(describeFault(fault, node.at.index));
    switch (fault.kind) {
      case 'kill':
        await node.kill('SIGKILL');
        this.#killed.add(node);
        break;
      case 'pause':
        await node.pause();
        this.#paused.add(node);
        break;
      case 'isolate':
        this.net.isolate(node.at, fault.direction);
        break;
      case 'cut-from-peers':
        this.net.cutFromPeers(node.at, fault.direction);
        break;
      case 'loss':
        this.net.lossOut(node.at, fault.share);
        break;
      case 'restart-wiped':
        await node.restart({ wipe: true });
        break;
      case 'flap':
        this.#flap(node, fault.periodMs);
        break;
      case 'slow-disk':
        if (this.slowDisk === null) throw new Error('a slow-disk fault needs the Nemesis to have a SlowDisk');
        this.slowDisk.slow(node.pid!, fault.writeIops);
        this.#slowed = true;
        break;
    }
    return node;
  }

  /** Cuts `node` off from its peers now, heals it `periodMs` later, cuts it again, ... until heal(). */
  #flap(node: NodeProcess, periodMs: number): void {
    let cut = true;
    this.net.cutFromPeers(node.at);
    const state = { node, flips: 1, timer: setInterval(() => {
      if (cut) this.net.heal(node.at);
      else this.net.cutFromPeers(node.at);
      cut = !cut;
      state.flips++;
    }, periodMs) };
    this.#flapping = state;
  }

  /** Ends every fault: links healed, paused nodes resumed, killed nodes started on their data. */
  async heal(): Promise<void> {
    if (this.#flapping !== null) {
      clearInterval(this.#flapping.timer);
      this.log.push(`(node ${this.#flapping.node.at.index} cut and healed ${this.#flapping.flips} times)`);
      this.#flapping = null;
    }
    if (this.#slowed) this.slowDisk!.heal();
    this.#slowed = false;
    this.net.healAll();
    for (const node of this.#paused) await node.resume();
    this.#paused.clear();
    for (const node of this.#killed) if (!node.running) await node.start();
    this.#killed.clear();
    this.log.push('heal');
  }
}
