// What the session manager needs when it is one node of several on a shared database:
// who owns a session, and a way to run a call on that node. app.ts builds it from
// cluster/node.ts and the PostgreSQL store; on one node (SQLite) there is none.
import type { SessionState } from "../events/types.js";
import type { SessionRecord } from "./types.js";

export interface SessionCluster {
  readonly nodeId: string;
  /** The node that runs the session when it is another live node; undefined when this node should act itself. */
  remoteOwner(sessionId: string): Promise<string | undefined>;
  /** Of these sessions, those another live node runs. */
  remotelyOwned(ids: readonly string[]): Promise<Set<string>>;
  /** Runs `kind` on `node` for the session and returns its answer, or throws its error. */
  call<T>(node: string, sessionId: string, kind: string, args: unknown): Promise<T>;
  ownerOf(sessionId: string): Promise<{ node: string; alive: boolean } | undefined>;
  /** Sessions in `states` this node owns. */
  ownedSessions(states: readonly SessionState[]): Promise<SessionRecord[]>;
  /** Makes this node the owner of a session in one of `states`; false when it is not in one. */
  claimSession(sessionId: string, states: readonly SessionState[]): Promise<boolean>;
}
