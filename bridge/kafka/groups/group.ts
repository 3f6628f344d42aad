// One consumer group under the classic rebalance protocol (KIP-62, KIP-345 without static members,
// KIP-394), as Kafka's group coordinator runs it, in memory. States:
//
//   Empty --join--> PreparingRebalance --all members joined (or rebalance timeout)--> CompletingRebalance
//   CompletingRebalance --leader's SyncGroup--> Stable
//   Stable / CompletingRebalance --a member joins, leaves, changes protocols or times out--> PreparingRebalance
//   PreparingRebalance --no member left--> Empty (generation + 1)
//   any --the coordinator closes--> Dead
//
// Invariants: the generation only grows, by one each time a join completes; a member's session
// timer runs while it waits on no JoinGroup or SyncGroup answer (as Kafka's shouldKeepAlive); a
// member that does not rejoin within the rebalance timeout, or does not sync within it after the
// join, is removed; a JoinGroup v4+ without a member id gets MEMBER_ID_REQUIRED and a pending id
// that must come back within the session timeout (KIP-394).
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logger.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { GroupErrorCode } from './error-codes.js';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export interface JoinRequest {
  memberId: string;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  /** JoinGroup v4+: an unknown member gets MEMBER_ID_REQUIRED and joins again with the id given. */
  requireKnownMemberId: boolean;
}

export interface JoinResult {
  error: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  /** The members and their metadata for the chosen protocol: for the leader only. */
  members: Array<{ memberId: string; metadata: Buffer }>;
}

export interface SyncResult {
  error: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface MemberView {
  memberId: string;
  clientId: string;
  clientHost: string;
  metadata: Buffer;
  assignment: Buffer;
}

interface Member {
  readonly memberId: string;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: Protocol[];
  assignment: Buffer;
  joinWaiter: ((result: JoinResult) => void) | null;
  syncWaiter: ((result: SyncResult) => void) | null;
  session: NodeJS.Timeout | null;
}

const EMPTY = Buffer.alloc(0);

export class ClassicGroup {
  private stateNow: GroupState = 'Empty';
  private generation = 0;
  private type: string | null = null;
  private protocol: string | null = null;
  private leaderId: string | null = null;
  private readonly members = new Map<string, Member>();
  /** KIP-394: ids handed out with MEMBER_ID_REQUIRED, each expiring after the session timeout. */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** The rebalance timeout (PreparingRebalance) or the sync timeout (CompletingRebalance). */
  private phaseTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly groupId: string,
    /** Told when the group has no member and no timer left (it may be forgotten). */
    private readonly onIdle: (group: ClassicGroup) => void,
    private readonly logger: Logger,
  ) {}

  get state(): GroupState {
    return this.stateNow;
  }
  get generationId(): number {
    return this.generation;
  }
  get protocolType(): string | null {
    return this.type;
  }
  get protocolName(): string | null {
    return this.protocol;
  }
  get memberCount(): number {
    return this.members.size;
  }

  /** No member, no pending member id, nothing under way: the group may be forgotten. */
  get idle(): boolean {
    return this.stateNow === 'Empty' && this.members.size === 0 && this.pending.size === 0;
  }

  hasMember(memberId: string): boolean {
    return this.members.has(memberId);
  }

  /**
   * The topics the members subscribe to, read from their `consumer` protocol metadata
   * (ConsumerProtocolSubscription: version INT16, topics [STRING], ...); null when the group is not
   * a consumer group or a member's metadata does not parse (then it counts as subscribed to every
   * topic, as Kafka's GroupMetadata.isSubscribedToTopic does).
   */
  subscribedTopics(): Set<string> | null {
    if (this.type !== 'consumer') return null;
    const topics = new Set<string>();
    for (const m of this.members.values()) {
      for (const p of m.protocols) {
        if (this.protocol !== null && p.name !== this.protocol) continue;
        const named = subscriptionTopics(p.metadata);
        if (named === null) return null;
        for (const t of named) topics.add(t);
      }
    }
    return topics;
  }

  /** Members as DescribeGroups shows them: metadata and assignment only when Stable, as Kafka. */
  describeMembers(): MemberView[] {
    const stable = this.stateNow === 'Stable';
    return [...this.members.values()].map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      metadata: stable ? (m.protocols.find((p) => p.name === this.protocol)?.metadata ?? EMPTY) : EMPTY,
      assignment: stable ? m.assignment : EMPTY,
    }));
  }

  join(request: JoinRequest): Promise<JoinResult> {
    if (this.stateNow === 'Dead') return Promise.resolve(this.joinError(GroupErrorCode.COORDINATOR_NOT_AVAILABLE, request.memberId));
    if (!this.supports(request.protocolType, request.protocols)) return Promise.resolve(this.joinError(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.memberId));

    if (request.memberId === '') {
      const memberId = `${request.clientId}-${randomUUID()}`;
      if (request.requireKnownMemberId) {
        // KIP-394: the id is held for one session timeout; the client joins again with it.
        this.pending.set(memberId, setTimeout(() => this.pendingExpired(memberId), request.sessionTimeoutMs));
        return Promise.resolve(this.joinError(GroupErrorCode.MEMBER_ID_REQUIRED, memberId));
      }
      return this.addMember(memberId, request);
    }
    const pendingTimer = this.pending.get(request.memberId);
    if (pendingTimer !== undefined) {
      clearTimeout(pendingTimer);
      this.pending.delete(request.memberId);
      return this.addMember(request.memberId, request);
    }
    const member = this.members.get(request.memberId);
    if (member === undefined || this.stateNow === 'Empty') return Promise.resolve(this.joinError(GroupErrorCode.UNKNOWN_MEMBER_ID, request.memberId));

    const unchanged = sameProtocols(member.protocols, request.protocols);
    if (this.stateNow === 'CompletingRebalance' && unchanged) {
      // The member did not see the join answer: the same generation again.
      this.touch(member);
      return Promise.resolve(this.joinResult(member));
    }
    if (this.stateNow === 'Stable' && unchanged && member.memberId !== this.leaderId) {
      this.touch(member);
      return Promise.resolve(this.joinResult(member));
    }
    return this.updateMember(member, request);
  }

  sync(memberId: string, generationId: number, protocolType: string | null, protocolName: string | null, assignments: ReadonlyMap<string, Buffer>): Promise<SyncResult> {
    const member = this.members.get(memberId);
    if (member === undefined || this.stateNow === 'Empty' || this.stateNow === 'Dead') return Promise.resolve(this.syncError(GroupErrorCode.UNKNOWN_MEMBER_ID));
    if (generationId !== this.generation) return Promise.resolve(this.syncError(GroupErrorCode.ILLEGAL_GENERATION));
    if ((protocolType !== null && protocolType !== this.type) || (protocolName !== null && protocolName !== this.protocol)) {
      return Promise.resolve(this.syncError(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    if (this.stateNow === 'PreparingRebalance') return Promise.resolve(this.syncError(GroupErrorCode.REBALANCE_IN_PROGRESS));
    this.touch(member);
    if (this.stateNow === 'Stable') return Promise.resolve(this.syncAnswer(member));
    // CompletingRebalance: every member waits for the leader's assignments.
    return new Promise((resolve) => {
      member.syncWaiter?.(this.syncError(GroupErrorCode.REBALANCE_IN_PROGRESS));
      member.syncWaiter = resolve;
      if (memberId === this.leaderId) {
        for (const m of this.members.values()) m.assignment = assignments.get(m.memberId) ?? EMPTY;
        this.stateNow = 'Stable';
        this.clearPhaseTimer();
        for (const m of this.members.values()) {
          const waiter = m.syncWaiter;
          m.syncWaiter = null;
          waiter?.(this.syncAnswer(m));
          this.touch(m);
        }
      }
    });
  }

  heartbeat(memberId: string, generationId: number): number {
    const member = this.members.get(memberId);
    if (member === undefined || this.stateNow === 'Empty' || this.stateNow === 'Dead') return GroupErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== this.generation) return GroupErrorCode.ILLEGAL_GENERATION;
    this.touch(member);
    return this.stateNow === 'PreparingRebalance' ? GroupErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  /** A member leaves (LeaveGroup): the others rebalance. */
  leave(memberId: string): number {
    const pendingTimer = this.pending.get(memberId);
    if (pendingTimer !== undefined) {
      clearTimeout(pendingTimer);
      this.pending.delete(memberId);
      this.afterRemoval();
      return ErrorCode.NONE;
    }
    const member = this.members.get(memberId);
    if (member === undefined) return GroupErrorCode.UNKNOWN_MEMBER_ID;
    this.remove(member);
    this.afterRemoval();
    return ErrorCode.NONE;
  }

  /**
   * Whether an OffsetCommit of this member and generation may be stored. A commit with generation
   * -1 and no member id (a client that assigns partitions itself) is stored while the group is Empty.
   */
  commitError(memberId: string, generationId: number): number {
    if (generationId < 0 && memberId === '' && this.stateNow === 'Empty') return ErrorCode.NONE;
    if (this.stateNow === 'Dead') return GroupErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (this.stateNow === 'CompletingRebalance') return GroupErrorCode.REBALANCE_IN_PROGRESS;
    const member = this.members.get(memberId);
    if (member === undefined) return GroupErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== this.generation) return GroupErrorCode.ILLEGAL_GENERATION;
    this.touch(member);
    return ErrorCode.NONE;
  }

  /** The coordinator closes: every waiting member is answered, timers stop. */
  close(): void {
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.clearPhaseTimer();
    for (const member of this.members.values()) {
      if (member.session !== null) clearTimeout(member.session);
      member.joinWaiter?.(this.joinError(GroupErrorCode.COORDINATOR_NOT_AVAILABLE, member.memberId));
      member.syncWaiter?.(this.syncError(GroupErrorCode.COORDINATOR_NOT_AVAILABLE));
    }
    this.members.clear();
    this.stateNow = 'Dead';
  }

  private supports(protocolType: string, protocols: readonly Protocol[]): boolean {
    if (protocolType === '' || protocols.length === 0) return false;
    if (this.stateNow === 'Empty' || this.members.size === 0) return true;
    if (protocolType !== this.type) return false;
    return protocols.some((p) => [...this.members.values()].every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  private addMember(memberId: string, request: JoinRequest): Promise<JoinResult> {
    const member: Member = {
      memberId,
      clientId: request.clientId,
      clientHost: request.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      protocols: request.protocols,
      assignment: EMPTY,
      joinWaiter: null,
      syncWaiter: null,
      session: null,
    };
    if (this.members.size === 0) this.type = request.protocolType;
    this.members.set(memberId, member);
    this.leaderId ??= memberId;
    return this.awaitJoin(member);
  }

  private updateMember(member: Member, request: JoinRequest): Promise<JoinResult> {
    member.protocols = request.protocols;
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    member.clientId = request.clientId;
    member.clientHost = request.clientHost;
    return this.awaitJoin(member);
  }

  private awaitJoin(member: Member): Promise<JoinResult> {
    return new Promise((resolve) => {
      member.joinWaiter?.(this.joinError(GroupErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
      member.joinWaiter = resolve;
      if (member.session !== null) clearTimeout(member.session);
      member.session = null;
      if (this.stateNow === 'PreparingRebalance') this.maybeCompleteJoin();
      else this.prepareRebalance();
    });
  }

  private prepareRebalance(): void {
    if (this.stateNow === 'CompletingRebalance') {
      for (const m of this.members.values()) {
        const waiter = m.syncWaiter;
        m.syncWaiter = null;
        waiter?.(this.syncError(GroupErrorCode.REBALANCE_IN_PROGRESS));
        if (waiter !== null) this.touch(m);
      }
    }
    this.stateNow = 'PreparingRebalance';
    this.clearPhaseTimer();
    const timeout = Math.max(0, ...[...this.members.values()].map((m) => m.rebalanceTimeoutMs));
    this.phaseTimer = setTimeout(() => this.completeJoin(), timeout);
    this.maybeCompleteJoin();
  }

  private maybeCompleteJoin(): void {
    if (this.stateNow !== 'PreparingRebalance' || this.pending.size > 0) return;
    for (const m of this.members.values()) if (m.joinWaiter === null) return;
    this.completeJoin();
  }

  /** All members joined, or the rebalance timeout passed: those that did not rejoin are out. */
  private completeJoin(): void {
    if (this.stateNow !== 'PreparingRebalance') return;
    this.clearPhaseTimer();
    for (const m of [...this.members.values()]) {
      if (m.joinWaiter !== null) continue;
      this.logger.info({ group: this.groupId, member: m.memberId, clientId: m.clientId }, 'Kafka group member removed: it did not rejoin within the rebalance timeout');
      this.remove(m);
    }
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.generation++;
    if (this.members.size === 0) {
      this.stateNow = 'Empty';
      this.protocol = null;
      this.leaderId = null;
      this.onIdle(this);
      return;
    }
    this.protocol = this.selectProtocol();
    if (this.leaderId === null || !this.members.has(this.leaderId)) this.leaderId = this.members.keys().next().value!;
    this.stateNow = 'CompletingRebalance';
    this.logger.info({ group: this.groupId, generation: this.generation, members: this.members.size, leader: this.leaderId, protocol: this.protocol }, 'Kafka group rebalanced');
    for (const m of this.members.values()) {
      const waiter = m.joinWaiter!;
      m.joinWaiter = null;
      m.assignment = EMPTY;
      this.touch(m);
      waiter(this.joinResult(m));
    }
    // Members that do not send SyncGroup within the rebalance timeout are removed (Kafka's pending sync).
    const timeout = Math.max(0, ...[...this.members.values()].map((m) => m.rebalanceTimeoutMs));
    const generation = this.generation;
    this.phaseTimer = setTimeout(() => this.syncExpired(generation), timeout);
  }

  private syncExpired(generation: number): void {
    this.phaseTimer = null;
    if (this.stateNow !== 'CompletingRebalance' || this.generation !== generation) return;
    for (const m of [...this.members.values()]) {
      if (m.syncWaiter !== null) continue;
      this.logger.info({ group: this.groupId, member: m.memberId, clientId: m.clientId }, 'Kafka group member removed: no SyncGroup within the rebalance timeout');
      this.remove(m);
    }
    this.afterRemoval();
  }

  /** Each member votes for the first of its protocols that every member supports; most votes wins. */
  private selectProtocol(): string {
    const all = [...this.members.values()];
    const candidates = all[0]!.protocols.map((p) => p.name).filter((name) => all.every((m) => m.protocols.some((p) => p.name === name)));
    const votes = new Map<string, number>();
    for (const m of all) {
      const vote = m.protocols.find((p) => candidates.includes(p.name))?.name;
      if (vote !== undefined) votes.set(vote, (votes.get(vote) ?? 0) + 1);
    }
    let best = candidates[0]!;
    for (const [name, count] of votes) if (count > (votes.get(best) ?? 0)) best = name;
    return best;
  }

  private remove(member: Member): void {
    if (member.session !== null) clearTimeout(member.session);
    this.members.delete(member.memberId);
    member.joinWaiter?.(this.joinError(GroupErrorCode.UNKNOWN_MEMBER_ID, member.memberId));
    member.syncWaiter?.(this.syncError(GroupErrorCode.UNKNOWN_MEMBER_ID));
    member.joinWaiter = null;
    member.syncWaiter = null;
    if (this.leaderId === member.memberId) this.leaderId = null;
  }

  private afterRemoval(): void {
    if (this.stateNow === 'Stable' || this.stateNow === 'CompletingRebalance') this.prepareRebalance();
    else if (this.stateNow === 'PreparingRebalance') this.maybeCompleteJoin();
    else if (this.stateNow === 'Empty' && this.pending.size === 0) this.onIdle(this);
  }

  /** The member is alive: its session timer starts again (not while it waits on a join or sync answer). */
  private touch(member: Member): void {
    if (member.session !== null) clearTimeout(member.session);
    member.session = setTimeout(() => this.sessionExpired(member), member.sessionTimeoutMs);
  }

  private sessionExpired(member: Member): void {
    member.session = null;
    if (this.members.get(member.memberId) !== member) return;
    if (member.joinWaiter !== null || member.syncWaiter !== null) return this.touch(member);
    this.logger.info({ group: this.groupId, member: member.memberId, clientId: member.clientId, sessionTimeoutMs: member.sessionTimeoutMs }, 'Kafka group member removed: no heartbeat within its session timeout');
    this.remove(member);
    this.afterRemoval();
  }

  private pendingExpired(memberId: string): void {
    this.pending.delete(memberId);
    this.afterRemoval();
  }

  private clearPhaseTimer(): void {
    if (this.phaseTimer !== null) clearTimeout(this.phaseTimer);
    this.phaseTimer = null;
  }

  private joinResult(member: Member): JoinResult {
    const leader = this.leaderId ?? '';
    return {
      error: ErrorCode.NONE,
      generationId: this.generation,
      protocolType: this.type,
      protocolName: this.protocol,
      leader,
      memberId: member.memberId,
      members:
        member.memberId === leader
          ? [...this.members.values()].map((m) => ({ memberId: m.memberId, metadata: m.protocols.find((p) => p.name === this.protocol)?.metadata ?? EMPTY }))
          : [],
    };
  }

  private joinError(error: number, memberId: string): JoinResult {
    return { error, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] };
  }

  private syncAnswer(member: Member): SyncResult {
    return { error: ErrorCode.NONE, protocolType: this.type, protocolName: this.protocol, assignment: member.assignment };
  }

  private syncError(error: number): SyncResult {
    return { error, protocolType: null, protocolName: null, assignment: EMPTY };
  }
}

function sameProtocols(a: readonly Protocol[], b: readonly Protocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}

/** The topics of a ConsumerProtocolSubscription (any version: they follow its INT16 version), or null. */
function subscriptionTopics(metadata: Buffer): string[] | null {
  if (metadata.length < 6) return null;
  const count = metadata.readInt32BE(2);
  if (count < 0 || count > metadata.length) return null;
  const topics: string[] = [];
  let pos = 6;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > metadata.length) return null;
    const length = metadata.readInt16BE(pos);
    pos += 2;
    if (length < 0 || pos + length > metadata.length) return null;
    topics.push(metadata.toString('utf8', pos, pos + length));
    pos += length;
  }
  return topics;
}
