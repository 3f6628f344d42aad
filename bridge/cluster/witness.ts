// The witness (docs/replication.md, "The witness"; `tributary witness`): a voter that keeps the
// replication log's entry headers and no records. It votes by the data nodes' rules (one durable
// vote per epoch, KIP-595's up-to-date rule against its header log, check-quorum while it hears
// from a live leader), fetches headers from the leader, fsyncs them and reports its position in
// its next fetch, which the leader counts toward a commit under acks: quorum. It never stands in
// an election, so it never leads; a tail that diverges from the leader's log is truncated as a
// replica's is (KIP-101). Under cluster.tls it authenticates as the data nodes do (transport.ts,
// peer-identity.ts): mutual TLS both ways, each request checked against its certificate's id.
import type { EntryPosition } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import type { WitnessStatus } from '../shared/cluster-status.js';
import { ElectionState } from './election-state.js';
import { UnknownPeerError } from './errors.js';
import { ForgottenVote, startsWiped } from './forgotten-vote.js';
import {
  API_BEGIN_QUORUM_EPOCH,
  API_END_QUORUM_EPOCH,
  API_FETCH,
  API_VOTE,
  decodeBeginQuorumEpoch,
  decodeFetch,
  decodeVote,
  encodeEpochResponse,
  encodeFetch,
  encodeFetchResponse,
  encodeVoteResponse,
  NONE,
  NOT_LEADER,
  Writer,
  type Reader,
  type VoteRequest,
  type VoteResponse,
} from './messages.js';
import { authenticated } from './peer-identity.js';
import { PositionLog } from './position-log.js';
import { atLeastAsUpToDate } from './quorum.js';
import { parseAddress, PeerConnection, refusingPeers, ReplicationServer, type ReplicationTls } from './transport.js';
import { API_FETCH_HEADERS, decodeHeadersResponse, type HeadersResponse } from './witness-messages.js';
import { VoterDirectories } from './voter-directories.js';

export type { WitnessStatus };

export interface WitnessOptions {
  nodeId: string;
  listen: { host: string; port: number };
  /** The data nodes. */
  peers: readonly { id: string; address: string }[];
  electionTimeoutMs: number;
  fetchMaxWaitMs: number;
  dataDir: string;
  logger: Logger;
  /** Mutual TLS with the data nodes (cluster.tls, its files read), as theirs; null: plain TCP. */
  tls?: ReplicationTls | null;
}

/** The most header bytes one answer covers: headers are small, this bounds the batches the leader reads to make them. */
const FETCH_MAX_BYTES = 4 * 1024 * 1024;

export class Witness {
  #leaderId: string | null = null;
  #leaderSeenAt = 0;
  #commitSeq = 0;
  #truncations = 0;
  #fetching = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  /** As a data node's: wiped (not formatted by init), it vouches only for a candidate with an empty log until caught up with a leader. */
  #knowsNothing: boolean;
  readonly #peers = new Map<string, PeerConnection>();
  #server: ReplicationServer | null = null;
  /** The voters' directory ids (KIP-853), as a data node's: re-initialised, it votes as a wiped witness until caught up. */
  readonly #directories: VoterDirectories;

  private constructor(
    private readonly options: WitnessOptions,
    private readonly state: ElectionState,
    private readonly positions: PositionLog,
    private readonly forgotten: ForgottenVote,
  ) {
    for (const peer of options.peers) {
      const { host, port } = parseAddress(peer.address);
      this.#peers.set(peer.id, new PeerConnection(peer.id, host, port, FETCH_MAX_BYTES, options.tls ?? null, options.logger));
    }
    this.#knowsNothing = (state.format === null && state.epoch === 0 && positions.lastEntry().seq === 0) || state.replaced;
    this.#directories = new VoterDirectories(state, options.nodeId, options.logger, () => {
      const probing = forgotten.blocks;
      forgotten.forget();
      this.#knowsNothing = true;
      if (!probing) this.resetTimer();
    }, () => !this.#knowsNothing);
  }

  static async start(options: WitnessOptions): Promise<Witness> {
    const state = ElectionState.open(options.dataDir);
    let positions: PositionLog;
    try {
      state.checkFormat(options.nodeId, null);
      positions = PositionLog.open(options.dataDir);
    } catch (err) {
      state.close();
      throw err;
    }
    const witness = new Witness(options, state, positions, new ForgottenVote(startsWiped(state, positions.lastEntry().seq === 0) || state.replaced, options.logger, 'tributary witness init --config FILE'));
    try {
      witness.#server = await ReplicationServer.start({
        host: options.listen.host,
        port: options.listen.port,
        maxBytes: FETCH_MAX_BYTES,
        handler: (apiKey, body, peer) => witness.handle(apiKey, body, peer),
        logger: options.logger,
        tls: options.tls ?? null,
        peerIds: options.peers.map((p) => p.id),
      });
    } catch (err) {
      positions.close();
      state.close();
      throw err;
    }
    witness.resetTimer();
    return witness;
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  status(): WitnessStatus {
    return {
      nodeId: this.options.nodeId,
      role: 'witness',
      epoch: this.state.epoch,
      leaderId: this.#leaderId,
      last: this.positions.lastEntry(),
      commitSeq: this.#commitSeq,
      voters: [this.options.nodeId, ...this.options.peers.map((p) => p.id)],
      truncations: this.#truncations,
      refusingPeers: refusingPeers(this.#peers.values(), Date.now()),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    for (const peer of this.#peers.values()) peer.close();
    await this.#server?.close();
    this.positions.close();
    this.state.close();
  }

  // ---- requests from the data nodes ----

  /** `peer`: the node id the connection's certificate names (mutual TLS); null without TLS. */
  private async handle(apiKey: number, body: Reader, peer: string | null = null): Promise<Writer> {
    switch (apiKey) {
      case API_VOTE: {
        const vote = decodeVote(body);
        authenticated(vote.candidateId, peer);
        return encodeVoteResponse(new Writer(), this.onVote(vote));
      }
      case API_BEGIN_QUORUM_EPOCH: {
        const begin = decodeBeginQuorumEpoch(body);
        authenticated(begin.leaderId, peer);
        this.knownPeer(begin.leaderId);
        if (begin.epoch >= this.state.epoch) this.follow(begin.epoch, begin.leaderId, true);
        return encodeEpochResponse(new Writer(), this.state.epoch);
      }
      case API_END_QUORUM_EPOCH: {
        const end = decodeBeginQuorumEpoch(body);
        authenticated(end.leaderId, peer);
        this.knownPeer(end.leaderId);
        if (end.epoch === this.state.epoch && end.leaderId === this.#leaderId) this.forgetLeader('the cluster leader resigned');
        return encodeEpochResponse(new Writer(), this.state.epoch);
      }
      case API_FETCH:
      case API_FETCH_HEADERS:
        authenticated(decodeFetch(body).replicaId, peer);
        // A witness leads nothing: the asker learns the epoch and the leader this witness knows.
        return encodeFetchResponse(new Writer(), { error: NOT_LEADER, epoch: this.state.epoch, leaderId: this.#leaderId, commitSeq: this.#commitSeq, diverging: null, entries: [] });
      default:
        throw new Error(`unknown replication API ${apiKey}`);
    }
  }

  private knownPeer(id: string): void {
    if (!this.#peers.has(id)) throw new UnknownPeerError(id);
  }

  /** The data nodes' rule (cluster-node.ts), against the header log: the vote is fsynced before the answer leaves. */
  private onVote(request: VoteRequest): VoteResponse {
    this.knownPeer(request.candidateId);
    const answer = (granted: boolean): VoteResponse => ({ epoch: this.state.epoch, granted, leaderId: granted ? null : this.#leaderId });
    if (!this.#directories.mayGrant(request)) return answer(false);
    if (this.forgotten.blocks || request.epoch < this.state.epoch) return answer(false);
    if (this.leaderAlive() && request.candidateId !== this.#leaderId) return answer(false);
    const upToDate = atLeastAsUpToDate(request.last, this.positions.lastEntry()) && !(this.#knowsNothing && request.last.seq > 0);
    if (request.preVote) return answer(upToDate);
    if (request.epoch > this.state.epoch) this.follow(request.epoch, null, false);
    if (!upToDate) return answer(false);
    const voted = this.state.votedFor;
    if (voted !== null && voted !== request.candidateId) return answer(false);
    this.state.set(request.epoch, request.candidateId);
    return answer(true);
  }

  private leaderAlive(): boolean {
    return this.#leaderId !== null && Date.now() - this.#leaderSeenAt < this.options.electionTimeoutMs;
  }

  private follow(epoch: number, leaderId: string | null, heardFromLeader: boolean): void {
    if (epoch > this.state.epoch) this.state.set(epoch, null);
    this.#leaderId = leaderId;
    if (heardFromLeader && leaderId !== null) {
      this.#leaderSeenAt = Date.now();
      this.forgotten.learnedLeader(this.state, epoch, leaderId);
    }
    if (leaderId !== null) void this.fetchLoop();
  }

  private forgetLeader(why: string): void {
    this.options.logger.info({ epoch: this.state.epoch, leader: this.#leaderId }, why);
    this.#leaderId = null;
    this.#leaderSeenAt = 0;
  }

  /** Only a witness that started empty needs a timer: it asks every voter's epoch until it knows one (forgotten-vote.ts). */
  private resetTimer(): void {
    if (this.#closed || !this.forgotten.blocks) return;
    this.#timer = setTimeout(() => {
      void this.forgotten.probe(this.state, this.options.nodeId, this.#peers.values(), this.options.electionTimeoutMs).finally(() => this.resetTimer());
    }, this.options.electionTimeoutMs * (1 + Math.random()));
  }

  // ---- fetching headers from the leader ----

  private async fetchLoop(): Promise<void> {
    if (this.#fetching) return;
    this.#fetching = true;
    try {
      while (!this.#closed && this.#leaderId !== null) {
        const leader = this.#peers.get(this.#leaderId);
        if (leader === undefined) break;
        const epoch = this.state.epoch;
        let response: HeadersResponse;
        try {
          const request = { replicaId: this.options.nodeId, epoch, last: this.positions.lastEntry(), maxWaitMs: this.options.fetchMaxWaitMs, maxBytes: FETCH_MAX_BYTES, directoryId: this.#directories.own };
          response = decodeHeadersResponse(await leader.request(API_FETCH_HEADERS, encodeFetch(new Writer(), request), this.options.fetchMaxWaitMs + this.options.electionTimeoutMs));
        } catch (err) {
          // Nothing listens at the leader's address: its process is gone; votes are granted again at once.
          if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' && this.#leaderId === leader.peerId) {
            this.forgetLeader('the cluster leader refuses connections');
            break;
          }
          await sleep(this.options.fetchMaxWaitMs);
          continue;
        }
        if (this.#closed || this.state.epoch !== epoch) continue;
        if (response.error !== NONE) {
          if (response.epoch > this.state.epoch) this.follow(response.epoch, response.leaderId, false);
          else if (response.error === NOT_LEADER) this.#leaderId = null;
          await sleep(this.options.fetchMaxWaitMs);
          continue;
        }
        this.#leaderSeenAt = Date.now();
        this.#directories.learn(leader.peerId, response.voters, !this.#knowsNothing);
        this.forgotten.learnedLeader(this.state, epoch, leader.peerId);
        try {
          this.apply(response);
        } catch (err) {
          this.options.logger.error({ err }, 'a fetched answer could not be applied; fetching again');
          await sleep(this.options.fetchMaxWaitMs);
        }
      }
    } finally {
      this.#fetching = false;
    }
  }

  private apply(response: HeadersResponse): void {
    if (response.diverging !== null) {
      const last = this.positions.lastEntry();
      const to = Math.min(last.seq, response.diverging.seq);
      this.options.logger.warn({ last, leaderEnd: response.diverging, truncateAfter: to }, 'header log diverged from the leader; truncating its tail');
      this.positions.truncateAfter(to);
      this.#truncations++;
      return;
    }
    if (response.entries.length > 0) this.positions.append(response.entries);
    const end = this.positions.lastEntry();
    if (end.epoch === response.epoch && end.seq >= response.commitSeq) this.#knowsNothing = false;
    this.#commitSeq = Math.max(this.#commitSeq, Math.min(response.commitSeq, end.seq));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
