// What several berth nodes on one shared database need from it, beyond the session and event
// stores: node leases, session ownership and commands for a session's owner. The PostgreSQL
// store implements it (store/postgres.ts); the embedded SQLite store is one node and has none.
import type { SessionState } from "../events/types.js";
import type { SessionRecord } from "../sessions/types.js";

export interface NodeLease {
  id: string;
  startedAt: string;
  heartbeatAt: string;
  expiresAt: string;
  /** The lease had not expired when it was read (in the database's clock). */
  alive: boolean;
  version: string;
  pid: number | null;
  /** The mark the node wrote in its home (cluster/node.ts checks that other nodes see the same home). */
  homeMark: string | null;
}

export interface ClusterCommand {
  id: string;
  sessionId: string;
  kind: string;
  /** JSON text. */
  args: string;
}

export interface ClusterStore {
  readonly nodeId: string;
  /** Registers this node with a lease of `leaseMs` (a node id already alive elsewhere is refused). */
  joinCluster(leaseMs: number, version: string, homeMark?: string): Promise<void>;
  /** Renews the lease; false when it had already expired (other nodes may have taken this node's sessions). */
  renewLease(leaseMs: number): Promise<boolean>;
  /** Gives the lease up at once (a graceful stop), so nothing waits for it to expire. */
  leaveCluster(): Promise<void>;
  nodes(): Promise<NodeLease[]>;
  /** Sessions in `states` whose owner's lease has expired become this node's, atomically (one node gets each). */
  adoptOrphans(states: readonly SessionState[]): Promise<SessionRecord[]>;
  /** Makes this node the session's owner if it is in one of `states` (a resume); false when it is not. */
  claimSession(id: string, states: readonly SessionState[]): Promise<boolean>;
  /** Each session's owner and whether its lease holds (sessions with none are left out). */
  ownersOf(ids: readonly string[]): Promise<Map<string, { node: string; alive: boolean }>>;
  /** Sessions in `states` this node owns. */
  ownedSessions(states: readonly SessionState[]): Promise<SessionRecord[]>;
  sendCommand(node: string, sessionId: string, kind: string, args: string): Promise<string>;
  /** This node's commands not yet taken, oldest first; each is taken once. */
  takeCommands(): Promise<ClusterCommand[]>;
  finishCommand(id: string, result: string): Promise<void>;
  /** Drops old finished commands. */
  pruneCommands(): Promise<void>;
  /** A command's result (JSON text), once its node finished it. */
  commandResult(id: string): Promise<string | undefined>;
  /** Called when a command may be waiting for this node, and when a result may be ready (ids). */
  onCommandSignals(handlers: { commands: () => void; result: (id: string) => void }): Promise<void>;
}
