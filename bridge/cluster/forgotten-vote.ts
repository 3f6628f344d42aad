// A voter that starts with an empty log and a cluster.db that `tributary cluster init` did not
// format (none at all, or one made at an earlier start that recorded no epoch or vote) was wiped:
// a new node is formatted first (init.ts; docs/replication.md, "Bootstrapping a cluster"), as KRaft
// refuses an unformatted directory. A wiped voter has forgotten the vote it cast: voting again in
// that epoch would break invariant 1 (one leader per epoch). Such a voter grants no vote, and
// stands in no election, until it knows an epoch it may have voted in:
// - from a leader (BeginQuorumEpoch, or a fetch answer): the leader of epoch E won a majority, so
//   the voter records its vote in E as cast for that leader and votes again only in later epochs;
// - from every other voter (a probe: a pre-vote at epoch 0, which no voter acts on, answered with
//   the voter's epoch): any candidate it voted for before the wipe is one of them and is at least
//   at that epoch, so it records a vote in the largest epoch answered and votes only above it.
//   A majority is not enough: while an election runs, the candidate it voted for may be the one
//   that did not answer, and another could win the same epoch with its second vote.
// Refusing is always safe: the cluster then waits for a leader, or for every voter to answer.
import type { Logger } from '../logger.js';
import type { ElectionState } from './election-state.js';
import { API_VOTE, decodeVoteResponse, encodeVote, Writer } from './messages.js';
import type { PeerConnection } from './transport.js';

export class ForgottenVote {
  #unknown: boolean;

  /** `wiped`: startsWiped() at this start; `initCommand`: how a new node of this kind is formatted. */
  constructor(
    wiped: boolean,
    private readonly logger: Logger,
    initCommand = 'tributary cluster init --config FILE',
  ) {
    this.#unknown = wiped;
    if (wiped) {
      logger.warn(
        { initCommand },
        `started with an empty log and no initialised cluster.db: taken for a member whose disk was wiped, it votes once a leader or every other voter tells it the epoch. A new node: stop it, run \`${initCommand}\`, start it again`,
      );
    }
  }

  /** A peer knew this node under another directory id (voter-directories.ts): it forgot its votes as a wiped node did. */
  forget(): void {
    this.#unknown = true;
  }

  /** True while this voter may not vote or stand: it does not know which epochs it voted in. */
  get blocks(): boolean {
    return this.#unknown;
  }

  /** Heard from the leader of `epoch` (its announcement or a fetch answer of that epoch). */
  learnedLeader(state: ElectionState, epoch: number, leaderId: string): void {
    if (!this.#unknown || epoch < state.epoch) return;
    if (epoch > state.epoch || state.votedFor === null) state.set(epoch, leaderId);
    this.learned(epoch, `the leader ${leaderId}`);
  }

  /** Asks every peer its epoch; true when all answered and the vote is known again. */
  async probe(state: ElectionState, nodeId: string, peers: Iterable<PeerConnection>, timeoutMs: number): Promise<boolean> {
    if (!this.#unknown) return true;
    const probe = { candidateId: nodeId, epoch: 0, last: { epoch: -1, seq: 0 }, preVote: true };
    const answers = await Promise.allSettled([...peers].map(async (peer) => decodeVoteResponse(await peer.request(API_VOTE, encodeVote(new Writer(), probe), timeoutMs)).epoch));
    if (!this.#unknown) return true; // a leader was heard from meanwhile
    if (answers.some((a) => a.status === 'rejected')) return false;
    const epoch = Math.max(state.epoch, ...answers.map((a) => (a as PromiseFulfilledResult<number>).value));
    if (epoch > state.epoch || state.votedFor === null) state.set(epoch, nodeId);
    this.learned(epoch, 'every other voter');
    return true;
  }

  private learned(epoch: number, from: string): void {
    this.#unknown = false;
    this.logger.info({ epoch, from }, 'started with an empty data directory: votes again after epoch ' + epoch);
  }
}

/**
 * Whether a voter starting on `state` and a log that is empty or not is a wiped one: cluster.db
 * not formatted by init, no epoch or vote recorded in it, and nothing in the log. A node with data
 * and no cluster.db (a single node given a cluster block) is not: it never voted, and its log is
 * what it holds (docs/replication.md, "Bootstrapping a cluster").
 */
export function startsWiped(state: ElectionState, logEmpty: boolean): boolean {
  return state.format === null && state.epoch === 0 && state.votedFor === null && logEmpty;
}
