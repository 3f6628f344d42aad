// The group coordinator of the Kafka endpoint: this node coordinates every group (it is the only
// broker). Groups and their members live in memory (ClassicGroup, ./group.ts); committed offsets
// are durable in the cursor store (./offsets.ts). After a restart no group has members: clients'
// heartbeats get UNKNOWN_MEMBER_ID and they join again, then resume from their committed offsets.
import type { Log } from '../../../broker/log/log.js';
import type { Logger } from '../../logger.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { GroupErrorCode } from './error-codes.js';
import { ClassicGroup, type GroupState, type JoinRequest, type JoinResult, type MemberView, type SyncResult } from './group.js';
import type { CommittedOffset, GroupOffsets } from './offsets.js';

/** Kafka's broker defaults group.min.session.timeout.ms and group.max.session.timeout.ms. */
export const MIN_SESSION_TIMEOUT_MS = 6_000;
export const MAX_SESSION_TIMEOUT_MS = 1_800_000;

export interface GroupSummary {
  groupId: string;
  state: GroupState;
  protocolType: string;
  protocolName: string;
  members: MemberView[];
}

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  offset: number;
  metadata: string | null;
}

/** Kafka's broker default offset.metadata.max.bytes. */
const MAX_METADATA_BYTES = 4096;

export class GroupCoordinator {
  private readonly groups = new Map<string, ClassicGroup>();
  private closed = false;

  constructor(
    private readonly offsets: GroupOffsets,
    private readonly log: Log,
    private readonly logger: Logger,
  ) {}

  join(groupId: string, request: JoinRequest): Promise<JoinResult> {
    const refuse = (error: number): Promise<JoinResult> =>
      Promise.resolve({ error, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId: request.memberId, members: [] });
    if (this.closed) return refuse(GroupErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (groupId === '') return refuse(GroupErrorCode.INVALID_GROUP_ID);
    if (request.sessionTimeoutMs < MIN_SESSION_TIMEOUT_MS || request.sessionTimeoutMs > MAX_SESSION_TIMEOUT_MS) return refuse(GroupErrorCode.INVALID_SESSION_TIMEOUT);
    let group = this.groups.get(groupId);
    if (group === undefined) {
      group = new ClassicGroup(groupId, (idle) => this.forget(idle), this.logger);
      this.groups.set(groupId, group);
    }
    // A rebalance timeout that is not positive (v0 has none) is the session timeout, as for v0.
    const result = group.join(request.rebalanceTimeoutMs > 0 ? request : { ...request, rebalanceTimeoutMs: request.sessionTimeoutMs });
    if (group.idle) this.forget(group); // a refused join leaves nothing behind
    return result;
  }

  sync(groupId: string, memberId: string, generationId: number, protocolType: string | null, protocolName: string | null, assignments: ReadonlyMap<string, Buffer>): Promise<SyncResult> {
    const group = this.groups.get(groupId);
    if (group === undefined) return Promise.resolve({ error: this.missing(groupId), protocolType: null, protocolName: null, assignment: Buffer.alloc(0) });
    return group.sync(memberId, generationId, protocolType, protocolName, assignments);
  }

  heartbeat(groupId: string, memberId: string, generationId: number): number {
    return this.groups.get(groupId)?.heartbeat(memberId, generationId) ?? this.missing(groupId);
  }

  leave(groupId: string, memberId: string): number {
    return this.groups.get(groupId)?.leave(memberId) ?? this.missing(groupId);
  }

  /**
   * Stores the offsets, durably, if the member may commit; the answer per partition. A partition
   * the log does not have gets UNKNOWN_TOPIC_OR_PARTITION and is not stored; the others are
   * committed in one transaction.
   */
  commit(groupId: string, memberId: string, generationId: number, entries: readonly OffsetCommitEntry[]): number[] {
    const group = this.groups.get(groupId);
    let error: number = ErrorCode.NONE;
    if (this.closed) error = GroupErrorCode.COORDINATOR_NOT_AVAILABLE;
    else if (groupId === '') error = GroupErrorCode.INVALID_GROUP_ID;
    else if (group !== undefined) error = group.commitError(memberId, generationId);
    // No such group (never joined, or not since a restart): only a commit outside any generation is stored.
    else if (generationId >= 0 || memberId !== '') error = GroupErrorCode.ILLEGAL_GENERATION;
    if (error !== ErrorCode.NONE) return entries.map(() => error);

    const partitionCounts = new Map<string, number>();
    for (const topic of new Set(entries.map((e) => e.topic))) partitionCounts.set(topic, this.partitionCount(topic));

    const answers = entries.map((e) => this.entryError(e, partitionCounts));
    const stored: CommittedOffset[] = entries.filter((_, i) => answers[i] === ErrorCode.NONE).map((e) => ({ topic: e.topic, partition: e.partition, offset: e.offset }));
    try {
      this.offsets.commit(groupId, stored);
    } catch (err) {
      this.logger.error({ err, group: groupId }, 'Kafka group offsets could not be stored');
      return answers.map((a) => (a === ErrorCode.NONE ? ErrorCode.KAFKA_STORAGE_ERROR : a));
    }
    return answers;
  }

  /**
   * Deletes a group that has no members: its committed offsets go from the cursor store (durably),
   * so it is gone from ListGroups, `tributary readers` and /api/readers. NON_EMPTY_GROUP while it
   * has members, GROUP_ID_NOT_FOUND when there is nothing of it (as Kafka's coordinator).
   */
  deleteGroup(groupId: string): number {
    if (this.closed) return GroupErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (groupId === '') return GroupErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(groupId);
    if (group !== undefined && (group.state !== 'Empty' || group.memberCount > 0)) return GroupErrorCode.NON_EMPTY_GROUP;
    let deleted: number;
    try {
      deleted = this.offsets.deleteGroup(groupId);
    } catch (err) {
      this.logger.error({ err, group: groupId }, 'Kafka group offsets could not be deleted');
      return ErrorCode.KAFKA_STORAGE_ERROR;
    }
    if (group === undefined && deleted === 0) return GroupErrorCode.GROUP_ID_NOT_FOUND;
    if (group?.idle === true) this.forget(group);
    this.logger.info({ group: groupId, offsets: deleted }, 'Kafka consumer group deleted');
    return ErrorCode.NONE;
  }

  /**
   * Deletes the group's committed offsets of these partitions (OffsetDelete), as Kafka's
   * coordinator: all of them while the group is Empty; while it has members, those of topics its
   * members do not subscribe to (a subscribed topic's partitions get GROUP_SUBSCRIBED_TO_TOPIC), and
   * none of a group that is not a consumer group (NON_EMPTY_GROUP). A partition the log does not
   * have gets UNKNOWN_TOPIC_OR_PARTITION.
   */
  deleteOffsets(groupId: string, partitions: ReadonlyArray<{ topic: string; partition: number }>): { error: number; partitions: number[] } {
    const refuse = (error: number) => ({ error, partitions: partitions.map(() => error) });
    if (this.closed) return refuse(GroupErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (groupId === '') return refuse(GroupErrorCode.INVALID_GROUP_ID);
    const group = this.groups.get(groupId);
    const active = group !== undefined && (group.state !== 'Empty' || group.memberCount > 0);
    if (!active && this.offsets.all(groupId).length === 0) return refuse(GroupErrorCode.GROUP_ID_NOT_FOUND);
    if (active && group?.protocolType !== 'consumer') return refuse(GroupErrorCode.NON_EMPTY_GROUP);
    const subscribed = active ? (group?.subscribedTopics() ?? null) : new Set<string>();
    const partitionCounts = new Map<string, number>();
    for (const topic of new Set(partitions.map((p) => p.topic))) partitionCounts.set(topic, this.partitionCount(topic));
    const answers = partitions.map((p) => {
      if (p.partition < 0 || p.partition >= (partitionCounts.get(p.topic) ?? 0)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      if (subscribed === null || subscribed.has(p.topic)) return GroupErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
      return ErrorCode.NONE;
    });
    try {
      this.offsets.deletePartitions(groupId, partitions.filter((_, i) => answers[i] === ErrorCode.NONE));
    } catch (err) {
      this.logger.error({ err, group: groupId }, 'Kafka group offsets could not be deleted');
      return refuse(ErrorCode.KAFKA_STORAGE_ERROR);
    }
    return { error: ErrorCode.NONE, partitions: answers };
  }

  /** The group's committed offset of topic/partition, or -1. */
  committed(groupId: string, topic: string, partition: number): number {
    return this.offsets.get(groupId, topic, partition) ?? -1;
  }

  /** Every committed offset of the group. */
  allCommitted(groupId: string): CommittedOffset[] {
    return this.offsets.all(groupId);
  }

  /** Groups with members, and groups known only by their committed offsets (Empty). */
  list(): Array<{ groupId: string; state: GroupState; protocolType: string }> {
    const listed = new Map<string, { groupId: string; state: GroupState; protocolType: string }>();
    for (const groupId of this.offsets.groups()) listed.set(groupId, { groupId, state: 'Empty', protocolType: '' });
    for (const group of this.groups.values()) listed.set(group.groupId, { groupId: group.groupId, state: group.state, protocolType: group.protocolType ?? '' });
    return [...listed.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /**
   * Every group with its member count and, per committed partition, the lag: records committed to
   * the log (its high watermark) that the group has not committed past (/metrics).
   */
  stats(): Array<{ groupId: string; members: number; lag: Array<{ topic: string; partition: number; records: number }> }> {
    return this.list().map(({ groupId }) => ({
      groupId,
      members: this.groups.get(groupId)?.memberCount ?? 0,
      lag: this.offsets.all(groupId).flatMap((c) => {
        try {
          return [{ topic: c.topic, partition: c.partition, records: Math.max(0, this.log.partition(c.topic, c.partition).highWatermark - c.offset) }];
        } catch {
          return []; // a partition the log no longer has
        }
      }),
    }));
  }

  /** As DescribeGroups: a group unknown here is Dead; one known only by its offsets is Empty. */
  describe(groupId: string): GroupSummary {
    const group = this.groups.get(groupId);
    if (group !== undefined) {
      return { groupId, state: group.state, protocolType: group.protocolType ?? '', protocolName: group.state === 'Empty' ? '' : (group.protocolName ?? ''), members: group.describeMembers() };
    }
    const state: GroupState = this.offsets.all(groupId).length > 0 ? 'Empty' : 'Dead';
    return { groupId, state, protocolType: '', protocolName: '', members: [] };
  }

  /** The node stops: waiting members are answered COORDINATOR_NOT_AVAILABLE, timers stop. Idempotent. */
  close(): void {
    this.closed = true;
    for (const group of this.groups.values()) group.close();
    this.groups.clear();
  }

  private entryError(entry: OffsetCommitEntry, partitionCounts: ReadonlyMap<string, number>): number {
    if (entry.metadata !== null && Buffer.byteLength(entry.metadata) > MAX_METADATA_BYTES) return GroupErrorCode.OFFSET_METADATA_TOO_LARGE;
    if (entry.offset < 0) return GroupErrorCode.INVALID_COMMIT_OFFSET_SIZE;
    if (entry.partition < 0 || entry.partition >= (partitionCounts.get(entry.topic) ?? 0)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    return ErrorCode.NONE;
  }

  /** The topic's partition count, 0 for a topic the log does not have. */
  private partitionCount(topic: string): number {
    try {
      return this.log.partitionCount(topic);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'TRIB_UNKNOWN_TOPIC') return 0;
      throw err;
    }
  }

  private missing(groupId: string): number {
    return this.closed ? GroupErrorCode.COORDINATOR_NOT_AVAILABLE : groupId === '' ? GroupErrorCode.INVALID_GROUP_ID : GroupErrorCode.UNKNOWN_MEMBER_ID;
  }

  private forget(group: ClassicGroup): void {
    if (this.groups.get(group.groupId) === group) this.groups.delete(group.groupId);
  }
}
