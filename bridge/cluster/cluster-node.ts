// One node of a replicated Tributary (docs/replication.md): its role in the current epoch, the
// election (KIP-595's Raft: randomised timeouts, pre-vote, durable votes, a candidate's log at
// least as up to date as the voter's; the voter's rules are voter.ts, shared with the witness),
// the leader's side of replication (answering followers' fetches, diverging-epoch answers, the
// commit position) and the follower's (fetching, truncating, appending). The log does the
// storing; this decides what is stored where and when it counts.
import type { Log, EntryPosition, LogStartOffset, StoredEntry } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import { ElectionState } from './election-state.js';
import { clusterLogId, encodeEpochRecord, EPOCHS_TOPIC, INTERNAL_TOPIC_PREFIX, keepLogId, logIdInEntries } from './epoch-record.js';
import { FollowerDiskFullError, ReplicationMessageError, SingleNodeDivergedError } from './errors.js';
import { DiskBudgetError, TributaryError } from '../../broker/errors.js';
import {
  API_BEGIN_QUORUM_EPOCH,
  API_END_QUORUM_EPOCH,
  API_FETCH,
  API_VOTE,
  decodeBeginQuorumEpoch,
  decodeEpochResponse,
  decodeFetch,
  decodeFetchResponse,
  decodeVote,
  decodeVoteResponse,
  encodeBeginQuorumEpoch,
  encodeEpochResponse,
  encodeFetch,
  encodeFetchResponse,
  encodeVote,
  encodeVoteResponse,
  FENCED_LEADER_EPOCH,
  NONE,
  NOT_LEADER,
  UNKNOWN_MEMBER,
  Writer,
  type FetchRequest,
  type FetchResponse,
  type Reader,
  type VoteRequest,
} from './messages.js';
import { authenticated } from './peer-identity.js';
import { commitPosition, majority } from './quorum.js';
import { parseAddress, PeerConnection, refusingPeers, ReplicationServer, type ReplicationTls } from './transport.js';
import type { ClusterStatus, FollowerStatus, Role } from '../shared/cluster-status.js';
import { API_FETCH_HEADERS, encodeHeadersResponse } from './witness-messages.js';
import { VoterDirectories } from './voter-directories.js';
import { Voter } from './voter.js';
import { API_FORWARD, decodeForward, encodeForwardResponse, FORWARD_APPEND_FAILED, FORWARD_NOT_LEADER, FORWARD_STORED, type ForwardRequest, type ForwardResponse } from './forward-messages.js';

export type { ClusterStatus, FollowerStatus, Role };

/** The internal topic a new leader's epoch-start entry goes to (invariant 2). */
export { EPOCHS_TOPIC };

export interface ClusterOptions {
  nodeId: string;
  /** cluster.name; a cluster.db formatted for another cluster is refused. */
  name?: string | null;
  listen: { host: string; port: number };
  /** `witness`: a `tributary witness` (votes, keeps entry headers; counts toward a commit under acks: quorum only). */
  peers: readonly { id: string; address: string; witness?: boolean }[];
  acks: 'quorum' | 'all';
  electionTimeoutMs: number;
  fetchMaxWaitMs: number;
  fetchMaxBytes: number;
  log: Log;
  dataDir: string;
  logger: Logger;
  /** Mutual TLS between the nodes (cluster.tls, its files read); null: plain TCP. */
  tls?: ReplicationTls | null;
}

interface FollowerState {
  seq: number | null;
  lastFetchAt: number | null;
  /** This leader's log end at the follower's last fetch. */
  endAtLastFetch: number;
  /** When it last held this leader's log end as of its previous fetch (Kafka's lastCaughtUpTimeMs); null: never. */
  caughtUpAt: number | null;
}

export class ClusterNode {
  #role: Role = 'follower';
  #elections = 0;
  #truncations = 0;
  #electionTimer: NodeJS.Timeout | null = null;
  #leaseTimer: NodeJS.Timeout | null = null;
  /** When this node started leading: its lease holds for one election timeout before followers must have fetched. */
  #leaseStart = 0;
  #epochStart = Number.MAX_SAFE_INTEGER;
  #commitSeq = 0;
  readonly #followers = new Map<string, FollowerState>();
  readonly #witnessIds: ReadonlySet<string>;
  readonly #peers = new Map<string, PeerConnection>();
  /** Fetches parked at the leader until new entries come (or their wait ends). */
  readonly #parked = new Set<() => void>();
  readonly #roleListeners = new Set<(role: Role) => void>();
  readonly #entryListeners = new Set<(entries: readonly StoredEntry[]) => void>();
  #fetching = false;
  #closed = false;
  /** This follower could not store its last fetch for want of space (the log's error); null: it stores. */
  #diskFull: { code: string; message: string; since: number } | null = null;
  /** The cluster's log id as this node led with it (epoch-record.ts); null before it first led. */
  #logId: string | null = null;
  #server: ReplicationServer | null = null;
  /** Appends a follower's forwarded publishes (follower-forward.ts leaderAppends); null: forwards are refused. */
  #forwardHandler: ((request: ForwardRequest) => Promise<number>) | null = null;
  /** A leader told this former single node to truncate what it held alone (SingleNodeDivergedError), logged once. */
  #singleNodeRefused = false;
  /** The voter's rules and knowledge (voter.ts): its vote, the leader it knows, whether it knows what was committed. */
  readonly #voter: Voter;
  /** The voters' directory ids (KIP-853): who counts, whom this node may grant a vote (the voter's). */
  readonly #directories: VoterDirectories;
  /**
   * Leader: voters fetching with a directory id it does not count yet (re-initialised), until
   * caught up: when each last fetched, and the commit position then. They count toward the lease
   * (this leader is heard; such a voter refuses other candidates while it hears from it), never
   * toward a commit.
   */
  readonly #newDirectories = new Map<string, { at: number; commitSeq: number }>();

  private constructor(
    private readonly options: ClusterOptions,
    private readonly state: ElectionState,
    logEmpty: boolean,
  ) {
    this.#witnessIds = new Set(options.peers.filter((p) => p.witness === true).map((p) => p.id));
    this.#voter = new Voter(state, logEmpty, {
      nodeId: options.nodeId,
      peerIds: options.peers.map((p) => p.id),
      electionTimeoutMs: options.electionTimeoutMs,
      logger: options.logger,
      lastEntry: () => options.log.lastEntry(),
      lease: () => (this.#role === 'leader' ? this.hasLease() : null),
      followed: (leaderId) => this.followed(leaderId),
      granted: () => this.resetElectionTimer(),
    });
    this.#directories = this.#voter.directories;
    for (const peer of options.peers) {
      const { host, port } = parseAddress(peer.address);
      this.#peers.set(peer.id, new PeerConnection(peer.id, host, port, options.fetchMaxBytes, options.tls ?? null, options.logger));
    }
  }

  /** Opens cluster.db, starts the replication listener; the node starts as a follower that takes no appends. */
  static async start(options: ClusterOptions): Promise<ClusterNode> {
    const state = ElectionState.open(options.dataDir);
    try {
      state.checkFormat(options.nodeId, options.name ?? null);
    } catch (err) {
      state.close();
      throw err;
    }
    const empty = options.log.lastEntry().seq === 0;
    if (state.created && !empty) {
      // A single node given a cluster block (the upgrade): what it acknowledged alone is kept.
      state.setSingleNodeEnd(options.log.lastEntry().seq);
      options.logger.info({ singleNodeEnd: state.singleNodeEnd }, 'a node with data and no cluster.db: joining a cluster as the node whose log the cluster starts from');
    }
    const node = new ClusterNode(options, state, empty);
    options.log.refuseAppends('this node is not the cluster leader');
    // Followers fetch what the leader has written before its fsync ends (Raft, section 10.2.1).
    options.log.onEntriesStaged(() => node.wakeParked());
    options.log.onEntriesLost((reason) => node.stepDown(reason));
    try {
      node.#server = await ReplicationServer.start({
        host: options.listen.host,
        port: options.listen.port,
        maxBytes: options.fetchMaxBytes,
        handler: (apiKey, body, peer) => node.handle(apiKey, body, peer),
        logger: options.logger,
        tls: options.tls ?? null,
        peerIds: options.peers.map((p) => p.id),
      });
    } catch (err) {
      state.close();
      throw err;
    }
    node.resetElectionTimer();
    return node;
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }
  get role(): Role {
    return this.#role;
  }
  get epoch(): number {
    return this.state.epoch;
  }
  get leaderId(): string | null {
    return this.#leaderId;
  }

  /** The leader the voter knows (voter.ts); set here too as this node leads or steps down. */
  get #leaderId(): string | null {
    return this.#voter.leaderId;
  }
  set #leaderId(id: string | null) {
    this.#voter.leaderId = id;
  }
  get #leaderSeenAt(): number {
    return this.#voter.leaderSeenAt;
  }

  /** The leader this follower has heard from within the election timeout, else null (MQTT 5.0 redirects go there). */
  get liveLeaderId(): string | null {
    const heard = this.#role === 'follower' && this.#leaderId !== null && Date.now() - this.#leaderSeenAt < this.options.electionTimeoutMs;
    return heard ? this.#leaderId : null;
  }
  get elections(): number {
    return this.#elections;
  }
  /** The cluster's log id this leader wrote in its epoch record (the upstream cursors carry it); null before it led. */
  get logId(): string | null {
    return this.#logId;
  }

  /**
   * Whether this node leads and still holds its lease (a majority heard from within the election
   * timeout). Read before the upstream forwarder (re)connects: a leader resumed from SIGSTOP has no
   * lease even before its lease check runs, and must not fence the new leader's producer.
   */
  leadsWithLease(): boolean {
    return this.#role === 'leader' && this.hasLease();
  }

  /** Told of every change of role (MQTT refuses or closes clients, the forwarder starts or stops). */
  onRoleChange(listener: (role: Role) => void): () => void {
    this.#roleListeners.add(listener);
    return () => this.#roleListeners.delete(listener);
  }

  /** Where this node, leading, appends what followers forward (cluster.followers: forward). */
  takeForwards(handler: (request: ForwardRequest) => Promise<number>): void {
    this.#forwardHandler = handler;
  }

  /** Told of the entries of internal topics (`__tributary_*`) a follower fetched, once they are stored (replicated-state.ts applies their records). */
  onEntriesFetched(listener: (entries: readonly StoredEntry[]) => void): () => void {
    this.#entryListeners.add(listener);
    return () => this.#entryListeners.delete(listener);
  }

  /**
   * A local append became durable: parked fetches answer now, and the high watermarks reach a
   * commit position that followers' copies made before this node's own fsync ended.
   */
  appended(): void {
    if (this.#role !== 'leader') return;
    this.wakeParked();
    this.options.log.commitEntries(this.#commitSeq);
  }

  private wakeParked(): void {
    if (this.#role !== 'leader') return;
    for (const wake of [...this.#parked]) wake();
  }

  /** This leader's written entries failed to commit (Log.onEntriesLost): it must not lead this epoch on. */
  private stepDown(reason: string): void {
    if (this.#role !== 'leader') return;
    this.options.logger.error({ epoch: this.state.epoch, reason }, 'cluster leader stepping down: its log lost entries followers could fetch');
    this.#leaderId = null;
    this.setRole('follower', 'its log lost entries');
    this.resetElectionTimer();
  }

  status(): ClusterStatus {
    const last = this.options.log.lastEntry();
    const now = Date.now();
    const followers = this.#role !== 'leader' ? [] : this.options.peers.map((p) => this.followerStatus(p.id, last.seq, now));
    return {
      nodeId: this.options.nodeId,
      role: this.#role,
      epoch: this.state.epoch,
      leaderId: this.#leaderId,
      last,
      commitSeq: this.#commitSeq,
      acks: this.options.acks,
      voters: [this.options.nodeId, ...this.options.peers.map((p) => p.id)],
      elections: this.#elections,
      truncations: this.#truncations,
      followers,
      underReplicatedPartitions: this.underReplicatedPartitions(followers),
      directoryId: this.#directories.own,
      directoryReplaced: this.#directories.replaced,
      refusingPeers: refusingPeers(this.#peers.values(), now),
      diskFull: this.#diskFull === null ? null : { code: this.#diskFull.code, message: this.#diskFull.message, sinceMsAgo: now - this.#diskFull.since },
    };
  }

  private followerStatus(id: string, end: number, now: number): FollowerStatus {
    const f = this.#followers.get(id);
    const seq = f?.seq ?? null;
    const within = (at: number | null | undefined): boolean => at != null && now - at < this.options.electionTimeoutMs;
    return {
      id,
      seq,
      lag: seq === null ? null : Math.max(0, end - seq),
      lastFetchMsAgo: f?.lastFetchAt == null ? null : now - f.lastFetchAt,
      inSync: within(f?.lastFetchAt) && within(f?.caughtUpAt),
      witness: this.#witnessIds.has(id),
      directoryId: this.#directories.known(id),
      newDirectory: this.#newDirectories.has(id),
    };
  }

  /**
   * Kafka's UnderReplicatedPartitions, counted by the leader: the partitions holding an entry that
   * some data follower out of the in-sync set lacks (after its reported, fsynced position; all
   * partitions with entries when it never fetched). A follower that stopped fetching or fell behind
   * for longer than the election timeout leaves them on fewer disks than the cluster has.
   */
  private underReplicatedPartitions(followers: readonly FollowerStatus[]): number {
    const behind = followers.filter((f) => !f.inSync && !f.witness);
    if (behind.length === 0) return 0;
    return this.options.log.partitionsWithEntriesAfter(Math.min(...behind.map((f) => f.seq ?? 0)));
  }

  /**
   * Stops. A leader first resigns (EndQuorumEpoch to every peer, briefly awaited): it acknowledges
   * nothing more, and the others elect a successor at once instead of after their election timeout
   * (a rolling restart hands over in a round trip).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#role === 'leader') {
      const epoch = this.state.epoch;
      this.#leaderId = null;
      this.setRole('follower', 'stopping');
      const timeout = Math.min(1000, this.options.electionTimeoutMs);
      await Promise.allSettled(
        [...this.#peers.values()].map((peer) => peer.request(API_END_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: this.options.nodeId, epoch }), timeout)),
      );
    }
    this.#closed = true;
    this.clearTimers();
    for (const wake of [...this.#parked]) wake();
    for (const peer of this.#peers.values()) peer.close();
    await this.#server?.close();
    this.state.close();
  }

  // ---- requests from peers ----

  /** `peer`: the node id the connection's certificate names (mutual TLS); null without TLS. */
  private async handle(apiKey: number, body: Reader, peer: string | null = null): Promise<Writer> {
    switch (apiKey) {
      case API_VOTE: {
        const vote = decodeVote(body);
        authenticated(vote.candidateId, peer);
        return encodeVoteResponse(new Writer(), this.#voter.vote(vote));
      }
      case API_BEGIN_QUORUM_EPOCH: {
        const begin = decodeBeginQuorumEpoch(body);
        authenticated(begin.leaderId, peer);
        return encodeEpochResponse(new Writer(), this.#voter.begin(begin));
      }
      case API_END_QUORUM_EPOCH: {
        const end = decodeBeginQuorumEpoch(body);
        authenticated(end.leaderId, peer);
        // The leader resigned: no leader is alive now, and an election comes after a short random wait.
        if (this.#voter.end(end, this.#role === 'follower')) this.resetElectionTimer(this.options.electionTimeoutMs / 4);
        return encodeEpochResponse(new Writer(), this.state.epoch);
      }
      case API_FETCH: {
        const fetch = decodeFetch(body);
        authenticated(fetch.replicaId, peer);
        return encodeFetchResponse(new Writer(), await this.onFetch(fetch));
      }
      case API_FETCH_HEADERS: {
        // A witness's fetch: the same answer, each entry's header without its records (witness-messages.ts).
        const fetch = decodeFetch(body);
        authenticated(fetch.replicaId, peer);
        return encodeHeadersResponse(new Writer(), await this.onFetch(fetch));
      }
      case API_FORWARD: {
        const forward = decodeForward(body);
        authenticated(forward.replicaId, peer);
        this.#voter.knownPeer(forward.replicaId);
        return encodeForwardResponse(new Writer(), await this.onForward(forward));
      }
      default:
        throw new ReplicationMessageError(`unknown replication API ${apiKey} (a peer of another version?)`);
    }
  }

  /**
   * A follower's forwarded publishes: appended only by the leader of the follower's epoch, and
   * answered once committed (the log's append under acknowledge: 'committed'); otherwise NOT_LEADER
   * with the leader this node knows, and the follower's publishers send them again.
   */
  private async onForward(request: ForwardRequest): Promise<ForwardResponse> {
    const answer = { epoch: this.state.epoch, leaderId: this.#leaderId, baseOffset: -1, message: null };
    if (this.#role !== 'leader' || request.epoch !== this.state.epoch) return { ...answer, error: FORWARD_NOT_LEADER };
    if (this.#forwardHandler === null) return { ...answer, error: FORWARD_APPEND_FAILED, message: 'this leader takes no forwarded publishes' };
    try {
      return { ...answer, error: FORWARD_STORED, baseOffset: await this.#forwardHandler(request) };
    } catch (err) {
      return { ...answer, error: FORWARD_APPEND_FAILED, message: `the leader's append failed: ${(err as Error).message}` };
    }
  }

  /** The leader's side of a follower's fetch. */
  private async onFetch(request: FetchRequest): Promise<FetchResponse> {
    const answer = (error: number, extra: Partial<FetchResponse> = {}): FetchResponse => ({
      error,
      epoch: this.state.epoch,
      leaderId: this.#leaderId,
      commitSeq: this.#commitSeq,
      diverging: null,
      entries: [],
      voters: this.#directories.list(),
      ...extra,
    });
    if (!this.#peers.has(request.replicaId)) return answer(UNKNOWN_MEMBER);
    if (request.epoch > this.state.epoch) {
      // A newer epoch exists: this node is no leader of it.
      this.follow(request.epoch, null, false);
      return answer(NOT_LEADER);
    }
    if (request.epoch < this.state.epoch) return answer(FENCED_LEADER_EPOCH);
    if (this.#role !== 'leader') return answer(NOT_LEADER);
    const log = this.options.log;
    // KIP-595's diverging-epoch check: the follower's last entry must be in this log, at the same
    // epoch. An entry of this leader's own epoch is: only this node wrote entries of it, and it
    // never loses one while it leads (a lost staged group makes it step down first), so the check
    // (a query on every fetch) is needed only for older epochs.
    const { last } = request;
    const ownEpochEntry = last.epoch === this.state.epoch && last.seq >= this.#epochStart;
    if (last.seq > 0 && !ownEpochEntry) {
      const end = log.lastEntryAtOrBelowEpoch(last.epoch);
      if (end.epoch !== last.epoch || end.seq < last.seq) return answer(NONE, { diverging: end });
    }
    // KIP-853: a voter with another directory id than the one counted is a new, empty replica; it
    // is served, and counts once it holds this epoch's start entry and the commit position as of
    // its previous fetch (Kafka's ISR rule: the answer to that fetch held it; it need not race the
    // commit, which moves without it).
    const previous = this.#newDirectories.get(request.replicaId);
    const caughtUp = last.epoch === this.state.epoch && last.seq >= Math.max(previous?.commitSeq ?? this.#commitSeq, this.#epochStart);
    if (this.#directories.admitFetch(request.replicaId, request.directoryId, caughtUp)) {
      this.#newDirectories.delete(request.replicaId);
      const durableEnd = log.lastEntry().seq; // read once a fetch: both below count it
      this.noteFetch(request.replicaId, last.seq, durableEnd);
      this.advanceCommit(durableEnd);
    } else {
      this.#newDirectories.set(request.replicaId, { at: Date.now(), commitSeq: this.#commitSeq });
      this.#followers.delete(request.replicaId); // what its former directory held counts no more
    }
    // Entries written here, also those whose fsync is still running: the follower stores and
    // fsyncs them while this node does (Raft, section 10.2.1); the commit counts this node's own
    // copy only once durable (advanceCommit reads the durable end). A witness gets no further than
    // witnessLimit, read again after the wait.
    const maxBytes = Math.min(request.maxBytes, this.options.fetchMaxBytes);
    const witness = this.#witnessIds.has(request.replicaId);
    const read = (): StoredEntry[] => {
      const entries = log.readEntries(last.seq, maxBytes);
      if (!witness) return entries;
      const upTo = this.witnessLimit();
      return entries.filter((e) => e.seq <= upTo);
    };
    let entries = read();
    if (entries.length === 0 && request.maxWaitMs > 0) {
      await this.park(Math.min(request.maxWaitMs, this.options.fetchMaxWaitMs));
      if (this.#role !== 'leader') return answer(NOT_LEADER);
      entries = read();
    }
    return answer(NONE, { entries, logStarts: logStartsOf(log, entries) });
  }

  /**
   * A follower fetched from `seq` (its fsynced end). Kafka's ISR bookkeeping: it is caught up now if
   * it holds this log's end, or was caught up at its previous fetch if it holds the end as of then.
   */
  private noteFetch(id: string, seq: number, end: number): void {
    const now = Date.now();
    const follower = this.#followers.get(id) ?? { seq: null, lastFetchAt: null, endAtLastFetch: Number.MAX_SAFE_INTEGER, caughtUpAt: null };
    if (seq >= end) follower.caughtUpAt = now;
    else if (seq >= follower.endAtLastFetch) follower.caughtUpAt = follower.lastFetchAt;
    follower.seq = seq;
    follower.lastFetchAt = now;
    follower.endAtLastFetch = end;
    this.#followers.set(id, follower);
  }

  /**
   * How far a witness may fetch. While every data follower fetches (within the election timeout;
   * the first one after this node began to lead counts as a fetch), no further than the lowest of
   * their positions: the witness is then never ahead of a data node that could succeed this one, so
   * its vote (KIP-595's rule against its own log) goes to that node after a failover, and the
   * commit position, the middle of three, is the data follower's. With a data follower silent, no
   * limit: the witness holds what the leader holds, and under acks: quorum the commit goes on with
   * it (under acks: all it does not count, advanceCommit).
   */
  private witnessLimit(): number {
    const now = Date.now();
    const data = this.options.peers.filter((p) => p.witness !== true).map((p) => this.#followers.get(p.id));
    const live = data.every((f) => now - (f?.lastFetchAt ?? this.#leaseStart) < this.options.electionTimeoutMs);
    if (!live) return Number.MAX_SAFE_INTEGER;
    return Math.min(...data.map((f) => f?.seq ?? 0));
  }

  private park(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#parked.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#parked.add(wake);
    });
  }

  /** The leader's commit position from its own and its followers' positions; high watermarks follow. */
  private advanceCommit(durableEnd: number): void {
    if (this.#role !== 'leader') return;
    // A witness counts toward a majority (acks: quorum), not toward "every data replica" (acks: all).
    const counted = this.options.acks === 'all' ? this.options.peers.filter((p) => p.witness !== true) : this.options.peers;
    const positions = [durableEnd, ...counted.map((p) => this.#followers.get(p.id)?.seq ?? 0)];
    const next = commitPosition(positions, this.options.acks, this.#epochStart, this.#commitSeq);
    if (next > this.#commitSeq) {
      this.#commitSeq = next;
      this.options.log.commitEntries(next);
      this.committedSingleNodeLog();
    }
  }

  /** The cluster committed past what this node held as a single node: nothing there can be truncated now (invariant 3). */
  private committedSingleNodeLog(): void {
    const end = this.state.singleNodeEnd;
    if (end > 0 && this.#commitSeq >= end) this.state.setSingleNodeEnd(0);
  }

  // ---- roles ----

  /** Follows `leaderId` (null: not known yet) in `epoch`; steps down if leading. Durable epoch change (voter.ts). */
  private follow(epoch: number, leaderId: string | null, heardFromLeader: boolean): void {
    this.#voter.follow(epoch, leaderId, heardFromLeader);
  }

  /** The voter followed `leaderId` (null: not known yet): this node's role, timer and fetching follow. */
  private followed(leaderId: string | null): void {
    const wasLeader = this.#role === 'leader';
    if (this.#role !== 'follower') this.setRole('follower', wasLeader ? 'a newer epoch or lost majority' : 'an election ended');
    this.resetElectionTimer();
    if (leaderId !== null && leaderId !== this.options.nodeId) void this.fetchLoop();
  }

  private setRole(role: Role, why: string): void {
    const previous = this.#role;
    this.#role = role;
    if (role !== 'leader') {
      if (previous === 'leader') {
        this.options.log.refuseAppends('this node is not the cluster leader');
        for (const wake of [...this.#parked]) wake();
        if (this.#leaseTimer !== null) clearInterval(this.#leaseTimer);
        this.#leaseTimer = null;
      }
    }
    if (previous !== role) {
      this.options.logger.info({ role, epoch: this.state.epoch, leader: this.#leaderId, why }, `cluster role: ${role}`);
      for (const listener of [...this.#roleListeners]) listener(role);
    }
  }

  /** The next election in a random 1-2x `baseMs` (the election timeout) unless a leader is heard from first. */
  private resetElectionTimer(baseMs = this.options.electionTimeoutMs): void {
    if (this.#electionTimer !== null) clearTimeout(this.#electionTimer);
    this.#electionTimer = null;
    if (this.#closed || this.#role === 'leader') return;
    const timeout = baseMs * (1 + Math.random());
    this.#electionTimer = setTimeout(() => void this.stand(), timeout);
  }

  private clearTimers(): void {
    if (this.#electionTimer !== null) clearTimeout(this.#electionTimer);
    if (this.#leaseTimer !== null) clearInterval(this.#leaseTimer);
    this.#electionTimer = null;
    this.#leaseTimer = null;
  }

  /** The election timeout passed without a leader: a pre-vote round, then, with a majority, a real election. */
  private async stand(): Promise<void> {
    this.#electionTimer = null;
    if (this.#closed || this.#role === 'leader') return;
    this.resetElectionTimer(); // the next attempt, should this one not finish
    // Started with an empty data directory: first the epoch it may have voted in (forgotten-vote.ts).
    const forgotten = this.#voter.forgotten;
    if (forgotten.blocks) return void (await forgotten.probe(this.state, this.options.nodeId, this.#peers.values(), this.options.electionTimeoutMs));
    const last = this.options.log.lastEntry();
    const epoch = Math.max(this.state.epoch, last.epoch) + 1;
    const pre = await this.requestVotes({ candidateId: this.options.nodeId, epoch, last, preVote: true });
    if (!pre || this.#closed || this.isLeader()) return;
    if (this.state.epoch >= epoch) return; // someone else moved on meanwhile
    this.state.set(epoch, this.options.nodeId); // the vote for itself, fsynced
    this.#leaderId = null;
    this.#elections++;
    this.setRole('candidate', 'election timeout');
    const won = await this.requestVotes({ candidateId: this.options.nodeId, epoch, last: this.options.log.lastEntry(), preVote: false });
    if (won && this.#role === 'candidate' && this.state.epoch === epoch && !this.#closed) await this.lead(epoch);
  }

  private isLeader(): boolean {
    return this.#role === 'leader';
  }

  /** Asks every peer; true once a majority (this node included) granted. */
  private requestVotes(request: VoteRequest): Promise<boolean> {
    const needed = majority(this.options.peers.length + 1);
    return new Promise((resolve) => {
      let granted = 1;
      let answered = 0;
      let done = false;
      const finish = (result: boolean): void => {
        if (!done) {
          done = true;
          resolve(result);
        }
      };
      if (granted >= needed) finish(true);
      for (const peer of this.#peers.values()) {
        const addressed = { ...request, candidateDirectoryId: this.#directories.own, voterDirectoryId: this.#directories.known(peer.peerId) };
        peer
          .request(API_VOTE, encodeVote(new Writer(), addressed), this.options.electionTimeoutMs)
          .then((body) => {
            const vote = decodeVoteResponse(body);
            if (vote.granted) granted++;
            // A refusal that names a leader of this epoch or a newer one: follow it (KIP-595). A node
            // that restarted after the leader's announcement, or with a wiped disk, finds it so.
            else if (vote.leaderId !== null && vote.leaderId !== this.options.nodeId && vote.epoch >= this.state.epoch && this.#peers.has(vote.leaderId)) this.follow(vote.epoch, vote.leaderId, false);
            else if (vote.leaderId !== null && vote.leaderId !== this.options.nodeId && vote.epoch < this.state.epoch && this.#peers.has(vote.leaderId)) this.announceEpoch(vote.leaderId);
            else if (vote.epoch > this.state.epoch && !request.preVote) this.follow(vote.epoch, null, false);
          })
          .catch(() => undefined)
          .finally(() => {
            answered++;
            if (granted >= needed) finish(true);
            else if (answered === this.#peers.size) finish(false);
          });
      }
    });
  }

  /**
   * A refusal named a live leader of an older epoch than this node's: this node moved on (its
   * pre-vote granted in a moment a peer had not heard from the leader, its vote then refused) and
   * now can neither follow that leader nor win while the others hear from it (check-quorum), and
   * the leader never learns of the newer epoch. Tells the leader with a fetch carrying the epoch:
   * it steps down (onFetch), and the next election takes this node back in. etcd's answer to the
   * same trap of check-quorum (a stranded node answers an older leader with its newer term).
   */
  private announceEpoch(leaderId: string): void {
    const leader = this.#peers.get(leaderId);
    if (leader === undefined) return;
    const request = { replicaId: this.options.nodeId, epoch: this.state.epoch, last: this.options.log.lastEntry(), maxWaitMs: 0, maxBytes: 0 };
    this.options.logger.info({ leader: leaderId, epoch: this.state.epoch }, 'the cluster leader is in an older epoch than this node; telling it');
    leader.request(API_FETCH, encodeFetch(new Writer(), request), this.options.electionTimeoutMs).catch(() => undefined);
  }

  /** Won `epoch`: leads it. Appends are stamped with it; the epoch-start entry goes first. */
  private async lead(epoch: number): Promise<void> {
    const log = this.options.log;
    this.#leaderId = this.options.nodeId;
    this.#followers.clear();
    this.#newDirectories.clear();
    this.#epochStart = log.lastAppendedEntry().seq + 1;
    this.#logId = clusterLogId(log, this.options.dataDir);
    this.#voter.leads();
    log.becomeClusterLeader(epoch);
    this.setRole('leader', 'won the election');
    if (this.#electionTimer !== null) clearTimeout(this.#electionTimer);
    this.#electionTimer = null;
    this.#leaseStart = Date.now();
    this.#leaseTimer = setInterval(() => this.checkLease(), Math.max(10, Math.floor(this.options.electionTimeoutMs / 4)));
    for (const peer of this.#peers.values()) void this.announce(peer, epoch);
    try {
      await log.createTopic(EPOCHS_TOPIC, 1);
      // Not awaited: under acknowledge 'committed' it resolves once committed, which needs followers.
      log.append(EPOCHS_TOPIC, 0, [{ timestamp: Date.now(), key: null, value: encodeEpochRecord({ epoch, leader: this.options.nodeId, log: this.#logId }), headers: [] }]).catch(() => undefined);
    } catch (err) {
      this.options.logger.error({ err }, 'the epoch-start entry could not be appended');
    }
  }

  /**
   * BeginQuorumEpoch to one peer, again until it answers or this node no longer leads the epoch,
   * each retry after twice the wait of the one before (from cluster.fetchMaxWaitMs up to one
   * election timeout): a peer that refuses this node's TLS is not asked ten times a second. No
   * longer than that: a wiped peer that comes back while another voter is down learns the epoch
   * only from this announcement (forgotten-vote.ts).
   */
  private async announce(peer: PeerConnection, epoch: number): Promise<void> {
    let wait = this.options.fetchMaxWaitMs;
    while (!this.#closed && this.#role === 'leader' && this.state.epoch === epoch) {
      try {
        const theirs = decodeEpochResponse(await peer.request(API_BEGIN_QUORUM_EPOCH, encodeBeginQuorumEpoch(new Writer(), { leaderId: this.options.nodeId, epoch }), this.options.electionTimeoutMs));
        if (theirs > epoch) this.follow(theirs, null, false);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, this.options.electionTimeoutMs);
      }
    }
  }

  /** Whether a majority (this node included) was heard from within the election timeout. */
  private hasLease(): boolean {
    const now = Date.now();
    if (now - this.#leaseStart < this.options.electionTimeoutMs) return true;
    let heard = 1;
    for (const f of this.#followers.values()) if (f.lastFetchAt !== null && now - f.lastFetchAt < this.options.electionTimeoutMs) heard++;
    for (const { at } of this.#newDirectories.values()) if (now - at < this.options.electionTimeoutMs) heard++;
    return heard >= majority(this.options.peers.length + 1);
  }

  /** A leader that has not heard from a majority within its lease steps down: it acknowledges nothing more. */
  private checkLease(): void {
    if (this.#role !== 'leader' || this.hasLease()) return;
    this.options.logger.warn({ epoch: this.state.epoch }, 'cluster leader heard from no majority within the election timeout; stepping down');
    this.#leaderId = null;
    this.setRole('follower', 'lost its majority');
    this.resetElectionTimer();
  }

  // ---- follower ----

  /** Fetches from the leader while this node follows one: appends, truncates, learns the commit position. */
  private async fetchLoop(): Promise<void> {
    if (this.#fetching) return;
    this.#fetching = true;
    try {
      while (!this.#closed && this.#role === 'follower' && this.#leaderId !== null && this.#leaderId !== this.options.nodeId) {
        const leader = this.#peers.get(this.#leaderId);
        if (leader === undefined) break;
        const epoch = this.state.epoch;
        let response: FetchResponse;
        try {
          // Without space: a probe now and then (one entry; within the election timeout, so the
          // leader is still heard from) rather than the whole answer again at once.
          if (this.#diskFull !== null) await new Promise((r) => setTimeout(r, this.options.electionTimeoutMs / 4));
          const maxBytes = this.#diskFull === null ? this.options.fetchMaxBytes : 1;
          const request = { replicaId: this.options.nodeId, epoch, last: this.options.log.lastEntry(), maxWaitMs: this.options.fetchMaxWaitMs, maxBytes, directoryId: this.#directories.own };
          response = decodeFetchResponse(await leader.request(API_FETCH, encodeFetch(new Writer(), request), this.options.fetchMaxWaitMs + this.options.electionTimeoutMs));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' && this.#leaderId === leader.peerId) {
            // Nothing listens at the leader's replication address: its process is gone (a cut link
            // drops packets, it does not refuse). As after a resignation: no live leader, so this
            // node grants votes again (check-quorum) and stands after a quarter of its timeout.
            this.options.logger.info({ leader: leader.peerId, epoch }, 'the cluster leader refuses connections; an election comes soon');
            this.#voter.forgetLeader();
            this.resetElectionTimer(this.options.electionTimeoutMs / 4);
            break;
          }
          await new Promise((r) => setTimeout(r, this.options.fetchMaxWaitMs));
          continue;
        }
        if (this.state.epoch !== epoch || this.#role !== 'follower') continue;
        if (response.error !== NONE) {
          this.#voter.fetchRefused(response);
          await new Promise((r) => setTimeout(r, this.options.fetchMaxWaitMs));
          continue;
        }
        this.#voter.fetched(leader.peerId, epoch, response.voters);
        this.resetElectionTimer();
        try {
          if (await this.applyFetch(response)) this.spaceBack();
        } catch (err) {
          if (isOutOfSpace(err)) this.outOfSpace(err);
          else {
            this.options.logger.error({ err }, 'a fetched answer could not be applied; fetching again');
            await new Promise((r) => setTimeout(r, this.options.fetchMaxWaitMs));
          }
        }
      }
    } finally {
      this.#fetching = false;
    }
  }

  /** The follower could not store its fetch for want of space: said once (TRIB_CLUSTER_FOLLOWER_DISK_FULL), then probes. */
  private outOfSpace(err: TributaryError): void {
    if (this.#diskFull !== null) return;
    this.#diskFull = { code: err.code, message: err.message, since: Date.now() };
    const error = new FollowerDiskFullError(this.options.dataDir, { cause: err });
    this.options.logger.error({ err: error, cause: err.code }, 'this follower cannot store what it fetches: no space; it falls behind while the others go on');
  }

  private spaceBack(): void {
    if (this.#diskFull === null) return;
    this.options.logger.warn({ code: this.#diskFull.code, afterMs: Date.now() - this.#diskFull.since }, 'this follower stores again; catching up');
    this.#diskFull = null;
  }

  /** Applies a fetch answer; true when it stored entries. */
  private async applyFetch(response: FetchResponse): Promise<boolean> {
    const log = this.options.log;
    if (response.diverging !== null) {
      const last = log.lastEntry();
      const to = Math.min(last.seq, response.diverging.seq);
      if (to < this.state.singleNodeEnd) {
        // A leader elected without this node, which holds what it acknowledged as a single node.
        if (!this.#singleNodeRefused) this.options.logger.error({ err: new SingleNodeDivergedError(response.leaderId ?? '?', this.state.singleNodeEnd, to) }, 'refusing to truncate what this node held as a single node');
        this.#singleNodeRefused = true;
        await new Promise((r) => setTimeout(r, this.options.electionTimeoutMs / 4));
        return false;
      }
      this.options.logger.warn({ last, leaderEnd: response.diverging, truncateAfter: to }, 'log diverged from the leader; truncating its tail');
      await log.truncateEntriesAfter(to);
      this.#truncations++;
      return false;
    }
    if (response.entries.length > 0) {
      // Over its disk budget a follower stores nothing more, as the leader takes nothing more: the
      // space left is for cluster.db's votes and the log's own bookkeeping.
      if (log.diskStatus().holding) throw new DiskBudgetError(this.options.dataDir, 'the disk budget holds appends (log.disk)');
      // The answer is a buffer of its own (transport.ts), which the batches view: it goes to the
      // log's writer thread without a copy, and the batches read as empty then. The internal
      // topics' entries (replicated state, epoch records: few and small) are copied first.
      const internal = internalEntries(response.entries);
      await log.appendEntries(response.entries, response.logStarts, response.entries[0]!.batch.buffer as ArrayBuffer);
      // The cluster's log id, kept should this node lead after retention deleted the epoch records.
      const logId = logIdInEntries(internal);
      if (logId !== null) keepLogId(this.options.dataDir, logId);
      if (internal.length > 0) for (const listener of [...this.#entryListeners]) listener(internal);
    }
    this.#voter.storedUpTo(log.lastEntry(), response);
    if (response.commitSeq > this.#commitSeq) {
      this.#commitSeq = Math.min(response.commitSeq, log.lastEntry().seq);
      log.commitEntries(this.#commitSeq);
      this.committedSingleNodeLog();
    }
    return response.entries.length > 0;
  }
}

/** This log's start offset of each partition among `entries` (read after them; retention only moves it up). */
function logStartsOf(log: Log, entries: readonly StoredEntry[]): LogStartOffset[] {
  const seen = new Map<string, LogStartOffset>();
  for (const e of entries) {
    const key = `${e.partition}:${e.topic}`;
    if (!seen.has(key)) seen.set(key, { topic: e.topic, partition: e.partition, logStartOffset: log.partition(e.topic, e.partition).logStartOffset });
  }
  return [...seen.values()];
}

/** Copies of the entries of internal topics (`__tributary_*`: replicated state, epoch records), whose batches outlive the fetch answer. */
function internalEntries(entries: readonly StoredEntry[]): StoredEntry[] {
  const internal: StoredEntry[] = [];
  for (const e of entries) if (e.topic.startsWith(INTERNAL_TOPIC_PREFIX)) internal.push({ ...e, batch: Buffer.from(e.batch) });
  return internal;
}

/** The log's errors for want of space: the disk is full, or the disk budget holds appends. */
function isOutOfSpace(err: unknown): err is TributaryError {
  return err instanceof TributaryError && (err.code === 'TRIB_LOG_DISK_FULL' || err.code === 'TRIB_LOG_DISK_BUDGET');
}
