// The fault-injection harness's network (issue 17, Jepsen's method at our scale): one network
// namespace per node, each linked by a veth pair to a bridge in the test's own namespace, so that
// the test process (its clients, its HTTP reads) reaches every node at its own address and the
// nodes reach each other only through links the test controls.
//
//   test process (root namespace)  bridge trb<pid>b  10.77.S.1/24
//        ├── veth trb<pid>v0 ── namespace trb<pid>-n0: eth0 10.77.S.10
//        ├── veth trb<pid>v1 ── namespace trb<pid>-n1: eth0 10.77.S.11
//        └── ...
//
// Faults are made inside a node's namespace: an nftables table `trbfault` (drop rules: the node cut
// off, one link cut, one way or both, random loss with numgen) and `tc` qdiscs on its eth0 (netem
// delay and loss where the kernel has sch_netem; a tbf rate limit everywhere). Healing deletes them.
//
// Every namespace, link and rule carries the prefix `trb<pid>`, the pid of the test process that
// made it: everything is removed with the test (onCleanup), and whatever a crashed run left behind
// (its pid no longer alive) is removed when the next network is made. Needs root (ip, nft, tc).
import { execFileSync, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { onCleanup } from '../cleanup.js';
import { alive } from '../cli.js';

export const PREFIX = 'trb';

/** Runs a command, throwing with its stderr when it fails. */
export function sh(file: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Runs a command, ignoring failure (clean-up of what may already be gone). */
function shQuiet(file: string, args: readonly string[]): void {
  spawnSync(file, args, { stdio: 'ignore' });
}

/**
 * Why this process cannot build namespaces, or null when it can: root and the tools. Tests skip
 * with this message, unless REQUIRE_NETNS_TESTS=1 (CI sets it), which turns it into a failure.
 */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'the namespace harness needs root (ip netns, nftables, tc)';
  for (const tool of ['ip', 'nft', 'tc']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error !== undefined) return `the namespace harness needs '${tool}' (Debian: iproute2, nftables)`;
  }
  return null;
}

/** The skip option of a namespace test: a message when it must skip, else false (it runs). */
export function skipUnlessNetns(): string | false {
  const reason = netnsUnavailable();
  if (reason === null) return false;
  if (process.env.REQUIRE_NETNS_TESTS === '1') throw new Error(`REQUIRE_NETNS_TESTS=1 but ${reason}`);
  return reason;
}

let netemKnown: boolean | null = null;

/** Whether the kernel has sch_netem (delay, jitter, loss in tc); some VM kernels are built without it. */
export function hasNetem(net: Network): boolean {
  if (netemKnown === null) {
    const ns = net.nodes[0]!.ns;
    netemKnown = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], { stdio: 'ignore' }).status === 0;
    if (netemKnown) shQuiet('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root']);
  }
  return netemKnown;
}

/** Removes namespaces and links of earlier runs whose process is gone (a crashed or killed test). */
export function removeStale(): string[] {
  const removed: string[] = [];
  const owner = new RegExp(`^${PREFIX}(\\d+)`);
  const stale = (name: string): boolean => {
    const pid = Number(owner.exec(name)?.[1] ?? NaN);
    return Number.isInteger(pid) && pid !== process.pid && !alive(pid);
  };
  // Links first: a namespace's deletion frees its veth ends only later, in the kernel's own time.
  for (const line of sh('ip', ['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '';
    if (stale(name)) {
      shQuiet('ip', ['link', 'del', name]);
      removed.push(name);
    }
  }
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (stale(name)) {
      shQuiet('ip', ['netns', 'del', name]);
      removed.push(name);
    }
  }
  return removed;
}

/** A free 10.77.S.0/24: S not used by any address on this host (another run's bridge). */
function freeSubnet(): number {
  const used = new Set([...sh('ip', ['-o', '-4', 'addr', 'show']).matchAll(/inet 10\.77\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = (process.pid % 250) + 1;
  for (let i = 0; i < 250; i++) {
    const s = ((start + i) % 250) + 1;
    if (!used.has(s)) return s;
  }
  throw new Error('no free 10.77.x.0/24 subnet for the cluster harness');
}

export interface NetNode {
  /** Index, 0-based. */
  index: number;
  /** The network namespace's name. */
  ns: string;
  /** The node's address on the bridge. */
  address: string;
}

export type Direction = 'both' | 'in' | 'out';

let networks = 0;

export class Network {
  readonly nodes: NetNode[] = [];
  readonly bridge: string;
  /** The test process's address on the bridge (where clients come from). */
  readonly hostAddress: string;
  readonly #tag: string;
  #closed = false;

  private constructor(
    readonly subnet: number,
    count: number,
  ) {
    // Interface names are at most 15 bytes: trb + pid (<= 7 digits) + letter + run + index.
    this.#tag = `${PREFIX}${process.pid}${String.fromCharCode(97 + (networks++ % 26))}`;
    this.bridge = `${this.#tag}b`;
    this.hostAddress = `10.77.${subnet}.1`;
    for (let i = 0; i < count; i++) this.nodes.push({ index: i, ns: `${this.#tag}-n${i}`, address: `10.77.${subnet}.${10 + i}` });
  }

  /** Builds `count` namespaces on a bridge; all of it is removed when the test ends, however it ends. */
  static create(t: TestContext, count: number): Network {
    removeStale();
    const net = new Network(freeSubnet(), count);
    onCleanup(t, () => net.destroy());
    net.#build();
    return net;
  }

  #build(): void {
    sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', this.bridge]);
    sh('ip', ['link', 'set', this.bridge, 'up']);
    for (const node of this.nodes) {
      const host = `${this.#tag}v${node.index}`;
      const peer = `${this.#tag}p${node.index}`;
      sh('ip', ['netns', 'add', node.ns]);
      sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
      sh('ip', ['link', 'set', peer, 'netns', node.ns]);
      sh('ip', ['link', 'set', host, 'master', this.bridge, 'up']);
      this.exec(node, ['ip', 'link', 'set', 'lo', 'up']);
      this.exec(node, ['ip', 'link', 'set', peer, 'name', 'eth0']);
      this.exec(node, ['ip', 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
      this.exec(node, ['ip', 'link', 'set', 'eth0', 'up']);
      this.exec(node, ['ip', 'route', 'add', 'default', 'via', this.hostAddress]);
      // The fault table, empty: base chains on input and output that accept by default.
      this.exec(node, ['nft', '-f', '-'], FAULT_TABLE);
    }
  }

  /** Runs a command inside a node's namespace. */
  exec(node: NetNode, argv: readonly string[], input?: string): string {
    return sh('ip', ['netns', 'exec', node.ns, ...argv], input);
  }

  /** argv prefixed so that it runs in a node's namespace (for spawn). */
  wrap(node: NetNode, argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', node.ns, ...argv];
  }

  /** Cuts a node off from everyone (peers and clients): `in` drops what reaches it, `out` what it sends. */
  isolate(node: NetNode, direction: Direction = 'both'): void {
    const rules: string[] = [];
    if (direction !== 'out') rules.push(`add rule inet trbfault input iifname "eth0" drop`);
    if (direction !== 'in') rules.push(`add rule inet trbfault output oifname "eth0" drop`);
    this.exec(node, ['nft', '-f', '-'], `${rules.join('\n')}\n`);
  }

  /**
   * Cuts the link from `a` to `b`. `both`: nothing passes either way. `out`: what `a` sends to `b`
   * is dropped (b's answers to a would still pass, but TCP needs both ways). `in`: what `a` gets
   * from `b` is dropped. Clients and other nodes still reach both.
   */
  cutLink(a: NetNode, b: NetNode, direction: Direction = 'both'): void {
    const rules: string[] = [];
    if (direction !== 'in') rules.push(`add rule inet trbfault output ip daddr ${b.address} drop`);
    if (direction !== 'out') rules.push(`add rule inet trbfault input ip saddr ${b.address} drop`);
    this.exec(a, ['nft', '-f', '-'], `${rules.join('\n')}\n`);
  }

  /** Cuts `node` off from the other nodes but not from the clients (the test process). */
  cutFromPeers(node: NetNode, direction: Direction = 'both'): void {
    for (const other of this.nodes) if (other !== node) this.cutLink(node, other, direction);
  }

  /** Drops a share (0..1) of the packets a node sends (nftables numgen: needs no netem). */
  lossOut(node: NetNode, share: number): void {
    const perMille = Math.round(share * 1000);
    if (perMille <= 0) return;
    const which = perMille >= 1000 ? [] : ['numgen', 'random', 'mod', '1000', '<', String(perMille)];
    this.exec(node, ['nft', 'add', 'rule', 'inet', 'trbfault', 'output', 'oifname', 'eth0', ...which, 'drop']);
  }

  /** Drops a share (0..1) of what `a` sends to `b` only (one-way loss on one link; numgen, no netem). */
  lossTo(a: NetNode, b: NetNode, share: number): void {
    const perMille = Math.round(share * 1000);
    if (perMille <= 0) return;
    const which = perMille >= 1000 ? [] : ['numgen', 'random', 'mod', '1000', '<', String(perMille)];
    this.exec(a, ['nft', 'add', 'rule', 'inet', 'trbfault', 'output', 'ip', 'daddr', b.address, ...which, 'drop']);
  }

  /** netem on what a node sends: delay (ms) and loss (share); throws where the kernel lacks netem. */
  netem(node: NetNode, settings: { delayMs?: number; jitterMs?: number; loss?: number }): void {
    const args = ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem'];
    if (settings.delayMs !== undefined) args.push('delay', `${settings.delayMs}ms`, ...(settings.jitterMs === undefined ? [] : [`${settings.jitterMs}ms`]));
    if (settings.loss !== undefined) args.push('loss', `${settings.loss * 100}%`);
    if (!hasNetem(this)) throw new Error('netem: this kernel has no sch_netem (CONFIG_NET_SCH_NETEM), so no delay fault; loss uses nftables (lossOut), slowness tbf (rateLimit)');
    this.exec(node, args);
  }

  /** A slow link: what a node sends is shaped to `kbit` kilobits per second (tbf). */
  rateLimit(node: NetNode, kbit: number): void {
    this.exec(node, ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '4kb', 'latency', '10s']);
  }

  /** Removes every network fault of a node: its drop rules and its qdisc. */
  heal(node: NetNode): void {
    this.exec(node, ['nft', '-f', '-'], 'flush chain inet trbfault input\nflush chain inet trbfault output\n');
    shQuiet('ip', ['netns', 'exec', node.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
  }

  healAll(): void {
    for (const node of this.nodes) this.heal(node);
  }

  /** Deletes the namespaces (their veth ends go with them) and the bridge. Idempotent. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The veth pairs explicitly: deleting a namespace frees them only later, asynchronously.
    for (const node of this.nodes) shQuiet('ip', ['link', 'del', `${this.#tag}v${node.index}`]);
    for (const node of this.nodes) shQuiet('ip', ['netns', 'del', node.ns]);
    shQuiet('ip', ['link', 'del', this.bridge]);
  }
}

const FAULT_TABLE = `table inet trbfault {
  chain input { type filter hook input priority 0; policy accept; }
  chain output { type filter hook output priority 0; policy accept; }
}
`;

/** Names of namespaces and links of this process that exist now (for the tests of the clean-up). */
export function ownedByThisProcess(): string[] {
  const mine = (name: string): boolean => name.startsWith(`${PREFIX}${process.pid}`) && /^\D/.test(name.slice(PREFIX.length + String(process.pid).length));
  const namespaces = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter(mine);
  const links = [...sh('ip', ['-o', 'link', 'show']).matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]!).filter(mine);
  return [...namespaces, ...links];
}
