// Which user a client id belongs to. MQTT lets a CONNECT with a client id already in use take that
// id over [MQTT-3.1.4-2] and resume its session [MQTT-3.2.2-2]: without owners, any user who can
// log in could take another user's persistent session (and the messages queued in it) or drop its
// live connection by reusing the id. So a client id is held by one user at a time:
// - while a connection with it is connecting or connected (in memory), and
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

export class SessionOwners {
  /** Client ids in use by a connection that is connecting or connected, and its user. */
  readonly #held = new Map<string, { holder: Holder; username: string | null }>();

  constructor(private readonly store: OwnerStore) {}

  /**
   * Whether `username` may use `clientId` now. If so, `holder` holds the id from here on (and for
   * a persistent session, the user owns it in the store) until `release`. Synchronous, so that
   * two users racing for one id cannot both pass.
   */
  claim(holder: Holder, clientId: string, username: string | null, persistent: boolean): boolean {
    const live = this.#held.get(clientId);
    if (live !== undefined && live.username !== username) return false;
    const stored = this.store.sessionOwner(clientId);
    if (stored !== undefined && stored !== username) return false;
    this.#held.set(clientId, { holder, username });
    if (persistent && stored === undefined) this.store.claimSession(clientId, username);
    return true;
  }

  /**
   * The connection `holder` ended. A clean session ends with it [MQTT-3.1.2-6], and so does the
   * ownership of its id; a persistent session stays owned. A holder replaced by a newer connection
   * of the same user releases nothing.
   */
  release(holder: Holder, clientId: string, clean: boolean): void {
    if (this.#held.get(clientId)?.holder !== holder) return;
    this.#held.delete(clientId);
    if (clean) this.store.releaseSession(clientId);
  }
}
