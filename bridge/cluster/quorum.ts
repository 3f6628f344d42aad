// When an entry is committed (docs/replication.md, invariant 2): the position that a majority of
// the voters (acks: quorum), or every data replica (acks: all), holds fsynced, counted only from
// the first entry of the leader's own epoch (Raft, section 5.4.2: an older epoch's entry is
// committed with one of the current epoch, never by counting its copies).

/**
 * The commit position: `positions` are the fsynced last positions of every voter, the leader's
 * included (a follower not heard from counts 0). Never below `current` (commits only move up),
 * and `current` unless the result reaches `epochStart` (the leader's first entry of its epoch).
 */
export function commitPosition(positions: readonly number[], acks: 'quorum' | 'all', epochStart: number, current: number): number {
  const sorted = [...positions].sort((a, b) => b - a);
  const held = acks === 'all' ? sorted[sorted.length - 1]! : sorted[Math.floor(sorted.length / 2)]!;
  if (held < epochStart) return current;
  return Math.max(current, held);
}

/** Whether `candidate`'s log is at least as up to date as `voter`'s: (last epoch, last seq) compared in that order (KIP-595, Raft 5.4.1). */
export function atLeastAsUpToDate(candidate: { epoch: number; seq: number }, voter: { epoch: number; seq: number }): boolean {
  return candidate.epoch > voter.epoch || (candidate.epoch === voter.epoch && candidate.seq >= voter.seq);
}

/** Votes needed out of `voters`. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
