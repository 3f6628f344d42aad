// KIP-853's directory ids, checked by peers (docs/replication.md, "A directory id that peers
// check"): every voter is known by its node id and the directory id of its cluster.db. A voter
// that comes back with another directory id (its disk wiped and `tributary cluster init` run
// again) has forgotten what it acknowledged and whom it voted for:
// - a leader serves its fetches but does not count it (commit, lease) until it has caught up, then
//   records the new directory id;
// - a voter refuses a vote request addressed to another directory id than its own (and then takes
//   itself for a wiped node: forgotten-vote.ts), or from a candidate whose directory id is not the
//   one it knows.
// What each node knows is kept in cluster.db (election-state.ts) and learned from the leader's
// fetch answers, which carry the voter directories it knows.
import type { Logger } from '../logger.js';
import type { ElectionState } from './election-state.js';
import type { VoteRequest, VoterDirectory } from './messages.js';

export class VoterDirectories {
  /** list(), kept until a directory id changes: a leader sends it in every fetch answer. */
  #list: VoterDirectory[] | null = null;

  constructor(
    private readonly state: ElectionState,
    private readonly nodeId: string,
    private readonly logger: Logger,
    /** Called when this node learns it was replaced: it must vote as a wiped node until caught up. */
    private readonly onReplaced: () => void,
    /** Whether this node has caught up with a leader since it was last taken for wiped or replaced. */
    private readonly caughtUp: () => boolean = () => false,
  ) {}

  /** This node's own directory id, sent in its fetches and vote requests. */
  get own(): string {
    return this.state.directoryId;
  }

  /** Whether a peer knew this node under another directory id, and no leader has named its own since. */
  get replaced(): boolean {
    return this.state.replaced;
  }

  /** The directory id this node knows for `nodeId`; null: none. */
  known(nodeId: string): string | null {
    return this.state.voterDirectory(nodeId);
  }

  /** Every voter directory this node knows, its own included: what a leader's fetch answer carries. */
  list(): VoterDirectory[] {
    this.#list ??= [{ id: this.nodeId, directoryId: this.own }, ...[...this.state.voterDirectories()].map(([id, directoryId]) => ({ id, directoryId }))];
    return this.#list;
  }

  private record(id: string, directoryId: string): void {
    if (this.state.voterDirectory(id) === directoryId) return;
    this.state.setVoterDirectory(id, directoryId);
    this.#list = null;
  }

  /**
   * The leader's side of a fetch from `id` presenting `directoryId`: whether it counts (commit,
   * lease). The first directory id heard for a voter is taken; another one counts only once the
   * fetch shows it `caughtUp` (then it is recorded, durably). null (an older node): nothing to check.
   */
  admitFetch(id: string, directoryId: string | null | undefined, caughtUp: boolean): boolean {
    if (directoryId == null) return true;
    const known = this.known(id);
    if (known === directoryId) return true;
    if (known !== null && !caughtUp) return false;
    if (known !== null) this.logger.warn({ peer: id, directoryId, formerDirectoryId: known }, 'a voter with a new data directory caught up; it counts again');
    this.record(id, directoryId);
    return true;
  }

  /**
   * Whether this voter may grant `request` at all: the candidate must present the directory id
   * this node knows for it, when both are known, and address this node's own directory. A request
   * addressed to another one means this node was replaced: it says so and refuses, unless it has
   * caught up with a leader since it knew (it then holds every entry committed before, as a wiped
   * node that caught up does) or a leader counts this directory already (confirmed); the candidate
   * has not heard yet, as when that leader died before it was told.
   */
  mayGrant(request: VoteRequest): boolean {
    const addressed = request.voterDirectoryId ?? null;
    const current = this.state.confirmed || (this.state.replaced && this.caughtUp());
    if (addressed !== null && addressed !== this.own && !current) {
      this.markReplaced(request.candidateId, addressed);
      return false;
    }
    const candidate = request.candidateDirectoryId ?? null;
    const known = this.known(request.candidateId);
    return candidate === null || known === null || candidate === known;
  }

  /**
   * The voter directories in a fetch answer from the leader `leaderId`: kept. One naming this node
   * under another directory marks it replaced; one naming its own, while this node has `caughtUp`
   * (held a leader's epoch entries and commit position since it was last taken for replaced or
   * wiped), confirms this directory and clears the mark.
   */
  learn(leaderId: string, voters: readonly VoterDirectory[] | undefined, caughtUp: boolean): void {
    for (const voter of voters ?? []) {
      if (voter.id !== this.nodeId) this.record(voter.id, voter.directoryId);
      else if (voter.directoryId !== this.own) this.markReplaced(leaderId, voter.directoryId);
      else if (caughtUp) {
        this.state.setConfirmed();
        if (this.state.replaced) {
          this.state.setReplaced(false);
          this.logger.info({ leader: leaderId, directoryId: this.own }, 'the cluster counts this node\'s data directory again');
        }
      }
    }
  }

  private markReplaced(peer: string, formerDirectoryId: string): void {
    if (this.state.replaced) return;
    this.state.setReplaced(true);
    this.logger.warn(
      { peer, directoryId: this.own, formerDirectoryId },
      'a peer knows this node under another data directory: it was wiped and initialised again; it votes as a wiped node until it has caught up with a leader (a member that lost its disk is restarted without init)',
    );
    this.onReplaced();
  }
}
