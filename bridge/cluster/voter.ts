// A voter's rules, one copy for both kinds of voter: a data node (cluster-node.ts) and the witness
// (witness.ts). It keeps what a voter knows (its epoch and vote in cluster.db, the leader of that
// epoch and when it last heard from it, whether it knows what the cluster committed) and decides:
// - a vote or pre-vote (KIP-595's Raft): granted only to a candidate of this epoch or a newer one,
//   whose log is at least as up to date as this voter's, once per epoch, the vote fsynced before
//   the answer leaves; refused while a live leader is heard from (check-quorum), while this voter
//   forgot its vote (forgotten-vote.ts), and by the directory-id rules (KIP-853,
//   voter-directories.ts);
// - what it learns of epochs and leaders: BeginQuorumEpoch, EndQuorumEpoch, fetch answers.
// The host does what a role needs (timers, fetching, leading) through the callbacks it passes.
import type { EntryPosition } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import type { ElectionState } from './election-state.js';
import { UnknownPeerError } from './errors.js';
import { ForgottenVote, startsWiped } from './forgotten-vote.js';
import { NOT_LEADER, type BeginQuorumEpochRequest, type VoteRequest, type VoteResponse, type VoterDirectory } from './messages.js';
import { atLeastAsUpToDate } from './quorum.js';
import { VoterDirectories } from './voter-directories.js';

export interface VoterOptions {
  nodeId: string;
  /** The other voters: a vote or an announcement from anyone else is refused (UnknownPeerError). */
  peerIds: readonly string[];
  electionTimeoutMs: number;
  logger: Logger;
  /** The log a candidate's is compared with (KIP-595): a data node's log, the witness's header log. */
  lastEntry: () => EntryPosition;
  /** Whether this node, leading, still holds its lease; null: it does not lead (a witness never does). */
  lease?: () => boolean | null;
  /** The voter followed an epoch or a leader (`leaderId`, null: none known yet): the host's role, timers and fetching follow. */
  followed: (leaderId: string | null) => void;
  /** A real vote was granted (a data node starts its election timeout again). */
  granted?: () => void;
  /** A peer took this node for replaced (voter-directories.ts); `wasBlocked`: it had forgotten its vote already. */
  replaced?: (wasBlocked: boolean) => void;
  /** How a new node of this kind is formatted, named in a wiped voter's warning (forgotten-vote.ts). */
  initCommand?: string;
}

export class Voter {
  /** The leader of this epoch as this voter knows it; null: none known. A data node sets it as it leads or steps down. */
  leaderId: string | null = null;
  /** When this voter last heard from the leader of its epoch (an announcement or a fetch answer). */
  #leaderSeenAt = 0;
  /**
   * Started with an empty log and a cluster.db that init did not format (forgotten-vote.ts), or
   * taken for replaced (voter-directories.ts): it does not know what the cluster committed, so its
   * vote must not make a leader of a candidate that lacks committed entries. Until it has caught up
   * with a leader's commit position it grants only candidates whose log is empty too. A formatted
   * node with an empty log is new: its empty log is the truth, and it votes by the normal rules.
   */
  #knowsNothing: boolean;
  readonly forgotten: ForgottenVote;
  /** The voters' directory ids (KIP-853): who counts, whom this voter may grant a vote. */
  readonly directories: VoterDirectories;
  readonly #peerIds: ReadonlySet<string>;

  /** `logEmpty`: whether the voter's log held nothing at this start. */
  constructor(
    private readonly state: ElectionState,
    logEmpty: boolean,
    private readonly options: VoterOptions,
  ) {
    this.#peerIds = new Set(options.peerIds);
    this.forgotten = new ForgottenVote(startsWiped(state, logEmpty) || state.replaced, options.logger, options.initCommand);
    this.#knowsNothing = (state.format === null && state.epoch === 0 && logEmpty) || state.replaced;
    // Re-initialised, as a peer says: it votes as a wiped node (forgotten-vote.ts) until caught up.
    this.directories = new VoterDirectories(
      state,
      options.nodeId,
      options.logger,
      () => {
        const wasBlocked = this.forgotten.blocks;
        this.forgotten.forget();
        this.#knowsNothing = true;
        options.replaced?.(wasBlocked);
      },
      () => !this.#knowsNothing,
    );
  }

  get leaderSeenAt(): number {
    return this.#leaderSeenAt;
  }

  /** A request names a voter of this cluster, or is refused. */
  knownPeer(id: string): void {
    if (!this.#peerIds.has(id)) throw new UnknownPeerError(id);
  }

  /**
   * A vote (or pre-vote) request. Refused when its epoch is older; while this voter hears from a
   * live leader (check-quorum: a node cut off and back does not depose it); when the candidate's
   * log is behind this voter's; when this voter voted for another in that epoch. A real vote moves
   * this voter to the candidate's epoch and is fsynced (cluster.db) before the answer leaves. A
   * refusal names the leader this voter knows (KIP-595), so the candidate can follow it.
   */
  vote(request: VoteRequest): VoteResponse {
    this.knownPeer(request.candidateId);
    const answer = (granted: boolean): VoteResponse => ({ epoch: this.state.epoch, granted, leaderId: granted ? null : this.leaderId });
    if (!this.directories.mayGrant(request)) return answer(false);
    if (this.forgotten.blocks || request.epoch < this.state.epoch) return answer(false);
    if (this.leaderAlive() && request.candidateId !== this.leaderId) return answer(false);
    // A voter that knows nothing (new, or wiped) vouches only for a candidate that holds nothing either.
    const upToDate = atLeastAsUpToDate(request.last, this.options.lastEntry()) && !(this.#knowsNothing && request.last.seq > 0);
    if (request.preVote) return answer(upToDate);
    if (request.epoch > this.state.epoch) this.follow(request.epoch, null, false);
    if (!upToDate) return answer(false);
    const voted = this.state.votedFor;
    if (voted !== null && voted !== request.candidateId) return answer(false);
    this.state.set(request.epoch, request.candidateId); // fsynced before the answer goes
    this.options.granted?.();
    return answer(true);
  }

  /** A leader heard from within the election timeout, or this node leading with its lease. */
  private leaderAlive(): boolean {
    const lease = this.options.lease?.() ?? null;
    if (lease !== null) return lease;
    return this.heardFromLeader();
  }

  /** Whether this voter knows a leader and heard from it within the election timeout. */
  heardFromLeader(): boolean {
    return this.leaderId !== null && Date.now() - this.#leaderSeenAt < this.options.electionTimeoutMs;
  }

  /** BeginQuorumEpoch (KIP-595): the leader of `epoch`, if not older than this voter's, is followed. Answers this voter's epoch. */
  begin(request: BeginQuorumEpochRequest): number {
    this.knownPeer(request.leaderId);
    if (request.epoch >= this.state.epoch) this.follow(request.epoch, request.leaderId, true);
    return this.state.epoch;
  }

  /**
   * EndQuorumEpoch (KIP-595): the leader of this epoch resigned; true when this voter, `following`,
   * took it (no leader is alive now: it grants votes again). Also when it already forgot the
   * leader: a resigning leader answers the fetches parked at it NOT_LEADER as it steps down, and
   * that answer may come first. One leader per epoch, so a resignation of this epoch can only be
   * from its leader.
   */
  end(request: BeginQuorumEpochRequest, following: boolean): boolean {
    this.knownPeer(request.leaderId);
    if (request.epoch !== this.state.epoch || !following || (request.leaderId !== this.leaderId && this.leaderId !== null)) return false;
    this.options.logger.info({ epoch: request.epoch, leader: request.leaderId }, 'the cluster leader resigned');
    this.forgetLeader();
    return true;
  }

  /** Follows `leaderId` (null: not known yet) in `epoch`; a newer epoch is recorded durably, its vote not cast. */
  follow(epoch: number, leaderId: string | null, heardFromLeader: boolean): void {
    if (epoch > this.state.epoch) this.state.set(epoch, null);
    this.leaderId = leaderId;
    if (heardFromLeader && leaderId !== null) {
      this.#leaderSeenAt = Date.now();
      this.forgotten.learnedLeader(this.state, epoch, leaderId);
    }
    this.options.followed(leaderId);
  }

  /** No leader is alive (it resigned, or nothing listens at its address): votes are granted again at once. */
  forgetLeader(): void {
    this.leaderId = null;
    this.#leaderSeenAt = 0;
  }

  /** A fetch answered with an error: a newer epoch is followed (its leader, if named); NOT_LEADER forgets the leader. */
  fetchRefused(response: { error: number; epoch: number; leaderId: string | null }): void {
    if (response.epoch > this.state.epoch) this.follow(response.epoch, response.leaderId, false);
    else if (response.error === NOT_LEADER) this.leaderId = null;
  }

  /**
   * A fetch answered by `leaderId`, the leader of `epoch`: heard from, the voter directories it
   * names learned (confirming this one only once caught up since last taken for replaced), and a
   * forgotten vote known again.
   */
  fetched(leaderId: string, epoch: number, voters: readonly VoterDirectory[] | undefined): void {
    this.#leaderSeenAt = Date.now();
    this.directories.learn(leaderId, voters, !this.#knowsNothing);
    this.forgotten.learnedLeader(this.state, epoch, leaderId);
  }

  /**
   * After a fetch answer of `answer.epoch` was stored, this voter's log ends at `end`: it has
   * caught up if it holds the leader's epoch-start entry (so every entry of earlier epochs the
   * leader has, which includes every committed one) and the leader's commit position.
   */
  storedUpTo(end: EntryPosition, answer: { epoch: number; commitSeq: number }): void {
    if (end.epoch === answer.epoch && end.seq >= answer.commitSeq) this.#knowsNothing = false;
  }

  /** This node leads: its log holds every committed entry (it won a majority of up-to-date votes). */
  leads(): void {
    this.#knowsNothing = false;
  }
}
