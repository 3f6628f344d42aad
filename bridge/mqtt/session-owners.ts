// Which user a client id belongs to. MQTT lets a CONNECT with a client id already in use take that
// id over [MQTT-3.1.4-2] and resume its session [MQTT-3.2.2-2]: without owners, any user who can
// log in could take another user's persistent session (and the messages queued in it) or drop its
// live connection by reusing the id. So a client id is held by one user at a time:
// - while connections of that user with the id are connecting or connected (in memory), and
// - for as long as the persistent session it made exists (in the session store, across restarts).
// Another user presenting that id is refused; the same user may take over, as MQTT intends.
//
// Only users proven by a password can own anything: while no user is configured, a user name is
// unchecked, and owners are not kept (access.ts, verifiesUsers).

/** Where the owners of persistent sessions are kept (the session store). */
export interface OwnerStore {
  /** The owner of a stored persistent session (null: anonymous), or undefined when there is none. */
  sessionOwner(clientId: string): string | null | undefined;
  claimSession(clientId: string, username: string | null): void;
  releaseSession(clientId: string): void;
}

/** A connection that holds a client id; any object that stands for it. */
type Holder = object;

interface Hold {
  username: string | null;
  /** The user's connections with this id: several while one takes over from another. */
  holders: Set<Holder>;
}

export class SessionOwners {
  readonly #held = new Map<string, Hold>();

  constructor(private readonly store: OwnerStore) {}

  /**
   * Whether `username` may use `clientId` now; if so, `holder` holds the id until `release`.
   * Synchronous, so that two users racing for one id cannot both pass. Throws what the store
   * throws, holding nothing then.
   */
  claim(holder: Holder, clientId: string, username: string | null): boolean {
    const hold = this.#held.get(clientId);
    if (hold !== undefined && hold.username !== username) return false;
    const stored = this.store.sessionOwner(clientId);
    if (stored !== undefined && stored !== username) return false;
    if (hold === undefined) this.#held.set(clientId, { username, holders: new Set([holder]) });
    else hold.holders.add(holder);
    return true;
  }

  /**
   * `holder` is connected (the broker registered it). A persistent session now exists under the
   * id: its user owns it in the store. Not earlier: a CONNECT dropped before this made no session.
   */
  connected(holder: Holder, clientId: string, persistent: boolean): void {
    const hold = this.#held.get(clientId);
    if (!persistent || hold === undefined || !hold.holders.has(holder)) return;
    if (this.store.sessionOwner(clientId) === undefined) this.store.claimSession(clientId, hold.username);
  }

  /**
   * The connection `holder` ended. `endedSession`: it was connected with a clean session, which
   * wiped any stored session at its start and ends with it [MQTT-3.1.2-6]; once no connection of
   * the user holds the id any more, the id is free. A connection that never got connected, or
   * that another of the same user's is taking over from, frees nothing.
   */
  release(holder: Holder, clientId: string, endedSession: boolean): void {
    const hold = this.#held.get(clientId);
    if (hold === undefined || !hold.holders.delete(holder)) return;
    if (hold.holders.size > 0) return;
    this.#held.delete(clientId);
    if (endedSession) this.store.releaseSession(clientId);
  }
}
