// The witness (docs/replication.md, "The witness"; `tributary witness`): a voter that keeps the
// replication log's entry headers and no records. It votes by the data nodes' rules, the same
// code (voter.ts: one durable vote per epoch, KIP-595's up-to-date rule against its header log,
// check-quorum while it hears from a live leader), fetches headers from the leader, fsyncs them and reports its position in
// its next fetch, which the leader counts toward a commit under acks: quorum. It never stands in
// an election, so it never leads; a tail that diverges from the leader's log is truncated as a
// replica's is (KIP-101). Under cluster.tls it authenticates as the data nodes do (transport.ts,
// peer-identity.ts): mutual TLS both ways, each request checked against its certificate's id.
import type { EntryPosition } from '../../broker/log/log.js';
import type { Logger } from '../logger.js';
import type { WitnessStatus } from '../shared/cluster-status.js';
import { ElectionState } from './election-state.js';
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
} from './messages.js';
import { ReplicationMessageError } from './errors.js';
import { authenticated } from './peer-identity.js';
import { PositionLog } from './position-log.js';
import { parseAddress, PeerConnection, refusingPeers, ReplicationServer, type ReplicationTls } from './transport.js';
import { API_FETCH_HEADERS, decodeHeadersResponse, type HeadersResponse } from './witness-messages.js';
import { Voter } from './voter.js';

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
  #commitSeq = 0;
  #truncations = 0;
  #fetching = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  readonly #peers = new Map<string, PeerConnection>();
  #server: ReplicationServer | null = null;
  /** The data nodes' voter (voter.ts), against the header log; it never leads. */
  readonly #voter: Voter;

  private constructor(
    private readonly options: WitnessOptions,
    private readonly state: ElectionState,
    private readonly positions: PositionLog,
  ) {
    for (const peer of options.peers) {
      const { host, port } = parseAddress(peer.address);
      this.#peers.set(peer.id, new PeerConnection(peer.id, host, port, FETCH_MAX_BYTES, options.tls ?? null, options.logger));
    }
    this.#voter = new Voter(state, positions.lastEntry().seq === 0, {
      nodeId: options.nodeId,
      peerIds: options.peers.map((p) => p.id),
      electionTimeoutMs: options.electionTimeoutMs,
      logger: options.logger,
      lastEntry: () => positions.lastEntry(),
      followed: (leaderId) => {
        if (leaderId !== null) void this.fetchLoop();
      },
      // Taken for replaced while it knew its vote: it probes the voters' epochs again.
      replaced: (wasBlocked) => {
        if (!wasBlocked) this.resetTimer();
      },
      initCommand: 'tributary witness init --config FILE',
    });
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
    const witness = new Witness(options, state, positions);
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
      leaderId: this.#voter.leaderId,
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
        this.#voter.end(end, true); // a witness always follows
        return encodeEpochResponse(new Writer(), this.state.epoch);
      }
      case API_FETCH:
      case API_FETCH_HEADERS:
        authenticated(decodeFetch(body).replicaId, peer);
        // A witness leads nothing: the asker learns the epoch and the leader this witness knows.
        return encodeFetchResponse(new Writer(), { error: NOT_LEADER, epoch: this.state.epoch, leaderId: this.#voter.leaderId, commitSeq: this.#commitSeq, diverging: null, entries: [] });
      default:
        throw new ReplicationMessageError(`unknown replication API ${apiKey} (a peer of another version?)`);
    }
  }

  /** Only a witness that started empty needs a timer: it asks every voter's epoch until it knows one (forgotten-vote.ts). */
  private resetTimer(): void {
    if (this.#closed || !this.#voter.forgotten.blocks) return;
    this.#timer = setTimeout(() => {
      void this.#voter.forgotten.probe(this.state, this.options.nodeId, this.#peers.values(), this.options.electionTimeoutMs).finally(() => this.resetTimer());
    }, this.options.electionTimeoutMs * (1 + Math.random()));
  }

  // ---- fetching headers from the leader ----

  private async fetchLoop(): Promise<void> {
    if (this.#fetching) return;
    this.#fetching = true;
    try {
      while (!this.#closed && this.#voter.leaderId !== null) {
        const leader = this.#peers.get(this.#voter.leaderId);
        if (leader === undefined) break;
        const epoch = this.state.epoch;
        let response: HeadersResponse;
        try {
          const request = { replicaId: this.options.nodeId, epoch, last: this.positions.lastEntry(), maxWaitMs: this.options.fetchMaxWaitMs, maxBytes: FETCH_MAX_BYTES, directoryId: this.#voter.directories.own };
          response = decodeHeadersResponse(await leader.request(API_FETCH_HEADERS, encodeFetch(new Writer(), request), this.options.fetchMaxWaitMs + this.options.electionTimeoutMs));
        } catch (err) {
          // Nothing listens at the leader's address: its process is gone; votes are granted again at once.
          if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' && this.#voter.leaderId === leader.peerId) {
            this.options.logger.info({ epoch: this.state.epoch, leader: leader.peerId }, 'the cluster leader refuses connections');
            this.#voter.forgetLeader();
            break;
          }
          await sleep(this.options.fetchMaxWaitMs);
          continue;
        }
        if (this.#closed || this.state.epoch !== epoch) continue;
        if (response.error !== NONE) {
          this.#voter.fetchRefused(response);
          await sleep(this.options.fetchMaxWaitMs);
          continue;
        }
        this.#voter.fetched(leader.peerId, epoch, response.voters);
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
    this.#voter.storedUpTo(end, response);
    this.#commitSeq = Math.max(this.#commitSeq, Math.min(response.commitSeq, end.seq));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
