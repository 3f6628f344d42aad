// Persistent sessions' subscriptions, replicated (docs/replication.md, "State beside the records"):
// each change the leader's MQTT broker makes to a persistent session's subscriptions (SUBSCRIBE
// and UNSUBSCRIBE with clean session 0 / a session expiry, the session cleaned or expired) becomes
// a record of `__tributary_sessions`, key the client id, value JSON {"op":"add","subs":[...]},
// {"op":"remove","topics":[...]} or {"op":"clean"}; so does its owner (with mqtt.auth's users, the
// user a persistent session's client id belongs to: session-owners.ts), {"op":"owner","username"}
// or {"op":"disown"}, so that on a new leader no other user takes the session over. Followers
// apply them to their own session store (mqtt.db). A client reconnecting to a new leader with its
// client id and clean session 0 then gets session present 1 [MQTT-3.2.2-2] and the messages of its
// subscriptions. A new leader writes each session's subscriptions again as a clean then an add,
// and each owner. The change is given structurally: replication does not import the MQTT front end.
import type { ReplicatedState, StateRecord } from './replicated-state.js';

export const SESSIONS_TOPIC = '__tributary_sessions';

/** A subscription as the session store keeps it (MQTT 5 options: retain handling, retain as published, no local). */
export interface Subscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

export type SessionChange =
  | { op: 'add'; clientId: string; subs: Subscription[] }
  | { op: 'remove'; clientId: string; topics: string[] }
  | { op: 'clean'; clientId: string }
  | { op: 'owner'; clientId: string; username: string | null }
  | { op: 'disown'; clientId: string };

/** Where a node's persistent sessions' subscriptions live (the MQTT front end's session store). */
export interface SessionStore {
  apply(change: SessionChange): void;
  list(): Array<[string, Subscription[]]>;
  /** The owners of persistent sessions (mqtt.auth: a client id taken by a user; null: anonymous). */
  owners(): Array<[string, string | null]>;
}

export function encodeSessionChange(change: SessionChange): StateRecord {
  const { clientId, ...rest } = change;
  return { key: Buffer.from(clientId), value: Buffer.from(JSON.stringify(rest)) };
}

/** The change a record describes; null for one not understood (written by a later version, say). */
export function decodeSessionChange(record: StateRecord): SessionChange | null {
  if (record.value === null) return null;
  try {
    const clientId = record.key.toString();
    const body = JSON.parse(record.value.toString()) as { op?: unknown; subs?: unknown; topics?: unknown };
    if (body.op === 'clean') return { op: 'clean', clientId };
    if (body.op === 'disown') return { op: 'disown', clientId };
    if (body.op === 'owner' && (typeof (body as { username?: unknown }).username === 'string' || (body as { username?: unknown }).username === null)) {
      return { op: 'owner', clientId, username: (body as { username: string | null }).username };
    }
    if (body.op === 'add' && Array.isArray(body.subs)) return { op: 'add', clientId, subs: body.subs as Subscription[] };
    if (body.op === 'remove' && Array.isArray(body.topics)) return { op: 'remove', clientId, topics: body.topics as string[] };
    return null;
  } catch {
    return null;
  }
}

/** The callback the MQTT front end calls when a persistent session's subscriptions change. */
export function sessionWriter(state: ReplicatedState): (change: SessionChange) => void {
  return (change) => void state.write(SESSIONS_TOPIC, [encodeSessionChange(change)]);
}

/** Followers apply the leader's session changes to `store`; a new leader writes its sessions again. */
export function replicateSessions(state: ReplicatedState, store: SessionStore): void {
  state.register(SESSIONS_TOPIC, {
    apply: (records) => {
      for (const record of records) {
        const change = decodeSessionChange(record);
        if (change !== null) store.apply(change);
      }
    },
    snapshot: () => [
      ...store.list().flatMap(([clientId, subs]) => [encodeSessionChange({ op: 'clean', clientId }), encodeSessionChange({ op: 'add', clientId, subs })]),
      ...store.owners().map(([clientId, username]) => encodeSessionChange({ op: 'owner', clientId, username })),
    ],
  });
}
