// What the nodes of a harness cluster say about themselves (GET /api/cluster), and bounded waits
// on it: a single leader the others follow, every node caught up with the leader's log.
import type { ClusterStatus } from '../../../bridge/cluster/cluster-node.js';
import { CLUSTER_TOKEN, type NodeProcess } from './node-process.js';

/** What GET /api/cluster answers: the node's ClusterStatus. */
export type NodeStatus = ClusterStatus;

/**
 * The index of the one node that leads an epoch every other node follows it in, or -1: the rule
 * both cluster test helpers wait on (this one, over namespaces, and ../replicas.ts, on loopback).
 */
export function singleLeader(statuses: ReadonlyArray<NodeStatus | null>): number {
  const leaders = statuses.filter((s) => s?.role === 'leader');
  const leader = leaders.length === 1 ? leaders[0]! : null;
  if (leader === null || !statuses.every((s) => s !== null && s.epoch === leader.epoch && s.leaderId === leader.nodeId)) return -1;
  return statuses.indexOf(leader);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET /api/cluster; null when the node does not answer (down, paused, cut off). */
export async function statusOf(node: NodeProcess): Promise<NodeStatus | null> {
  if (!node.running) return null;
  try {
    const res = await fetch(new URL('/api/cluster', node.httpUrl), { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` }, signal: AbortSignal.timeout(1000) });
    return res.status === 200 ? ((await res.json()) as NodeStatus) : null;
  } catch {
    return null;
  }
}

/**
 * Waits (bounded) until one node of `among` leads and every node of `among` follows it in its
 * epoch; returns the leader.
 */
export async function waitForLeader(among: readonly NodeProcess[], options: { not?: NodeProcess; rounds?: number } = {}): Promise<NodeProcess> {
  let seen: unknown[] = [];
  for (let i = 0; i < (options.rounds ?? 600); i++) {
    const statuses = await Promise.all(among.map(statusOf));
    seen = statuses;
    const index = singleLeader(statuses);
    if (index >= 0 && among[index] !== options.not) return among[index]!;
    await sleep(100);
  }
  throw new Error(`no single leader among ${among.map((n) => `n${n.at.index}`).join(', ')}: ${JSON.stringify(seen)}`);
}

/** Waits (bounded) until every node has the leader's last entry and commit position (a quiet cluster: nothing is appended meanwhile). */
export async function waitForConverged(nodes: readonly NodeProcess[], rounds = 600): Promise<NodeStatus[]> {
  let seen: Array<NodeStatus | null> = [];
  for (let i = 0; i < rounds; i++) {
    seen = await Promise.all(nodes.map(statusOf));
    const leader = seen.find((s) => s?.role === 'leader');
    if (leader !== undefined && seen.every((s) => s !== null && s.leaderId === leader!.nodeId && s.epoch === leader!.epoch && s.last.seq === leader!.last.seq && s.commitSeq === leader!.last.seq)) {
      return seen as NodeStatus[];
    }
    await sleep(100);
  }
  throw new Error(`the nodes did not converge: ${JSON.stringify(seen)}`);
}
