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
  | { kind: 'restart-wiped'; target: Target };

export type FaultKind = Fault['kind'];

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'isolate', 'cut-from-peers', 'loss', 'restart-wiped'];

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
      default:
        return { kind, target };
    }
  });
}

export function describeFault(fault: Fault, node?: number): string {
  const where = typeof fault.target === 'number' ? `node ${fault.target}` : `the ${fault.target}${node === undefined ? '' : ` (node ${node})`}`;
  const detail = 'direction' in fault ? ` (${fault.direction})` : 'share' in fault ? ` (${fault.share * 100} %)` : '';
  return `${fault.kind} ${where}${detail}`;
}

/** The role a node reports, or null when it does not answer 200/503 with one (down, one-node, paused). */
async function roleOf(node: NodeProcess): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(new URL('/api/cluster/role', node.httpUrl), { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` }, timeout: 2000 }, (res) => {
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
  /** What was applied, in order, with the node each hit: the run's account of itself. */
  readonly log: string[] = [];

  constructor(
    private readonly net: Network,
    private readonly nodes: readonly NodeProcess[],
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
    }
    return node;
  }

  /** Ends every fault: links healed, paused nodes resumed, killed nodes started on their data. */
  async heal(): Promise<void> {
    this.net.healAll();
    for (const node of this.#paused) await node.resume();
    this.#paused.clear();
    for (const node of this.#killed) if (!node.running) await node.start();
    this.#killed.clear();
    this.log.push('heal');
  }
}
