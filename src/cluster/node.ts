import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { SessionState } from "../events/types.js";
import type { SessionCluster } from "../sessions/cluster.js";
import { LIVE_SESSION_STATES, type SessionRecord } from "../sessions/types.js";
import { BerthError } from "../util/errors.js";
import { runDir } from "../util/home.js";
import type { ClusterStore } from "./types.js";

// This berth node among others on one database (docs/scale-out.md):
// - its lease: a row renewed every third of the lease time, in the database's clock;
// - takeover: on every renewal, live sessions whose owner's lease expired become this node's
//   (one node gets each) and are marked interrupted;
// - commands: a call for a session another node owns goes through the commands table, with a
//   NOTIFY to wake that node and one back with the result. The owner runs each session's
//   commands one at a time, in the order they were sent.

export interface ClusterNodeDeps {
  store: ClusterStore;
  leaseMs: number;
  version: string;
  logger: Logger;
  /** Runs a command for a session this node owns; returns what the caller gets (JSON), or throws a BerthError. */
  execute(kind: string, sessionId: string, args: unknown): Promise<unknown>;
  /** Sessions taken over from a node whose lease expired. */
  adopted(rows: SessionRecord[]): Promise<void>;
  /**
   * This node's own lease expired: another node may have taken the sessions it runs. `unknown`:
   * the database could not be reached for a whole lease, so who owns what cannot be asked.
   */
  fenced(unknown: boolean): Promise<void>;
  /** How long a caller waits for the owner's answer (default 30 s). */
  callTimeoutMs?: number;
  /** BERTH_HOME: nodes must share it (docs/scale-out.md); each leaves a mark there for the others to find. */
  home?: string;
}

/** What a command's caller gets back. */
type Outcome = { value: unknown } | { error: { status: number; code: string; message: string } };

export class ClusterNode implements SessionCluster {
  private timer?: NodeJS.Timeout;
  private waiting = new Map<string, () => void>();
  private perSession = new Map<string, Promise<void>>();
  private draining = false;
  private drainAgain = false;
  private stopped = false;
  private beat: Promise<void> = Promise.resolve();
  private beats = 0;
  private renewedAt = Date.now();

  constructor(private readonly d: ClusterNodeDeps) {}

  get nodeId(): string {
    return this.d.store.nodeId;
  }

  async ownerOf(sessionId: string): Promise<{ node: string; alive: boolean } | undefined> {
    return (await this.d.store.ownersOf([sessionId])).get(sessionId);
  }

  ownedSessions(states: readonly SessionState[]): Promise<SessionRecord[]> {
    return this.d.store.ownedSessions(states);
  }

  claimSession(sessionId: string, states: readonly SessionState[]): Promise<boolean> {
    return this.d.store.claimSession(sessionId, states);
  }

  async start(): Promise<void> {
    await this.d.store.joinCluster(this.d.leaseMs, this.d.version, this.writeHomeMark());
    await this.checkSharedHome();
    await this.d.store.onCommandSignals({ commands: () => void this.drain(), result: (id) => this.waiting.get(id)?.() });
    this.timer = setInterval(() => (this.beat = this.heartbeat()), Math.max(100, Math.floor(this.d.leaseMs / 3)));
    this.timer.unref();
    // Commands sent while this node was down (to its id) are served now.
    void this.drain();
  }

  private markFile(node: string): string {
    return join(runDir(this.d.home!, node), "home-mark");
  }

  /** A random mark in this node's run directory under BERTH_HOME, recorded with its lease. */
  private writeHomeMark(): string | undefined {
    if (!this.d.home) return undefined;
    const mark = randomBytes(12).toString("hex");
    mkdirSync(runDir(this.d.home, this.nodeId), { recursive: true });
    writeFileSync(this.markFile(this.nodeId), mark, { mode: 0o600 });
    return mark;
  }

  private warnedHome = new Set<string>();

  /**
   * Whether every other live node's mark is in this node's BERTH_HOME: one that is not does not
   * share the filesystem, so a session taken over or resumed from it here has neither its
   * workspace nor its harness's history (its context is rebuilt from the log). Said once per node.
   */
  async checkSharedHome(): Promise<string[]> {
    if (!this.d.home) return [];
    const apart: string[] = [];
    for (const n of await this.d.store.nodes()) {
      if (n.id === this.nodeId || !n.alive || !n.homeMark) continue;
      let seen: string | undefined;
      try {
        seen = readFileSync(this.markFile(n.id), "utf8");
      } catch {
        /* not there: not the same home */
      }
      if (seen === n.homeMark) continue;
      apart.push(n.id);
      if (this.warnedHome.has(n.id)) continue;
      this.warnedHome.add(n.id);
      this.d.logger.warn(
        { node: n.id, home: this.d.home },
        `node ${n.id} does not share this node's BERTH_HOME (its mark is not in ${runDir(this.d.home, n.id)}): a session resumed here from it loses its workspace and its harness history; mount one shared filesystem at the same BERTH_HOME on every node (docs/scale-out.md)`,
      );
    }
    return apart;
  }

  /** Takes over what dead nodes left (also run at start, after this node's own recovery). */
  async sweep(): Promise<void> {
    const rows = await this.d.store.adoptOrphans(LIVE_SESSION_STATES);
    if (rows.length) {
      this.d.logger.warn({ sessions: rows.map((r) => r.id) }, "took over the live sessions of a node whose lease expired");
      await this.checkSharedHome().catch(() => []);
      await this.d.adopted(rows);
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!(await this.d.store.renewLease(this.d.leaseMs))) {
        this.d.logger.error("this node's lease had expired (a stall, or the database was out of reach): stopping the sessions it ran, which other nodes may have taken");
        await this.d.fenced(false);
      }
      this.renewedAt = Date.now();
      await this.sweep();
      if (++this.beats % 60 === 0) await this.d.store.pruneCommands();
      // A signal lost with a dropped connection: commands are polled once per beat too.
      await this.drain();
    } catch (e) {
      this.d.logger.warn({ err: (e as Error).message }, "lease renewal failed; retrying");
      // A whole lease without a renewal: other nodes may be taking this node's sessions now.
      if (Date.now() - this.renewedAt > this.d.leaseMs) {
        this.d.logger.error("no lease renewal for a whole lease: stopping every session this node runs (other nodes take them over)");
        this.renewedAt = Date.now();
        await this.d.fenced(true).catch(() => {});
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.beat.catch(() => {});
    await this.d.store.leaveCluster().catch(() => {});
  }

  /** The node that runs a session when it is another live node; undefined when this node should act itself. */
  async remoteOwner(sessionId: string): Promise<string | undefined> {
    const o = await this.ownerOf(sessionId);
    return o && o.alive && o.node !== this.nodeId ? o.node : undefined;
  }

  /** Of these sessions, those another live node runs (one query for a page of them). */
  async remotelyOwned(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const owners = await this.d.store.ownersOf(ids);
    return new Set([...owners].filter(([, o]) => o.alive && o.node !== this.nodeId).map(([id]) => id));
  }

  /** Runs `kind` on the session's owner and returns its answer (or throws its error). */
  async call<T>(node: string, sessionId: string, kind: string, args: unknown): Promise<T> {
    const id = await this.d.store.sendCommand(node, sessionId, kind, JSON.stringify(args ?? null));
    const timeoutMs = this.d.callTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const signalled = new Promise<void>((r) => {
        this.waiting.set(id, r);
        // Polled as well: a NOTIFY can be lost with its connection.
        setTimeout(r, 500).unref();
      });
      const text = await this.d.store.commandResult(id);
      if (text !== undefined) {
        this.waiting.delete(id);
        const out = JSON.parse(text) as Outcome;
        if ("error" in out) throw new BerthError(out.error.status, out.error.code, out.error.message);
        return out.value as T;
      }
      if (Date.now() > deadline) {
        this.waiting.delete(id);
        throw new BerthError(503, "owner_unreachable", `node ${node} runs session ${sessionId} and did not answer within ${timeoutMs / 1000} s; retry, or wait for its lease to expire and resume the session here`);
      }
      await signalled;
    }
  }

  /** Serves this node's waiting commands: each session's in order, sessions side by side. */
  private async drain(): Promise<void> {
    if (this.stopped) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        for (const c of await this.d.store.takeCommands()) {
          const prev = this.perSession.get(c.sessionId) ?? Promise.resolve();
          const next = prev.then(() => this.serve(c.id, c.kind, c.sessionId, c.args));
          this.perSession.set(c.sessionId, next);
          void next.finally(() => this.perSession.get(c.sessionId) === next && this.perSession.delete(c.sessionId));
        }
      } while (this.drainAgain && !this.stopped);
    } catch (e) {
      this.d.logger.warn({ err: (e as Error).message }, "could not read this node's commands; retrying at the next heartbeat");
    } finally {
      this.draining = false;
    }
  }

  private async serve(id: string, kind: string, sessionId: string, args: string): Promise<void> {
    let out: Outcome;
    try {
      out = { value: (await this.d.execute(kind, sessionId, JSON.parse(args))) ?? null };
    } catch (e) {
      const err = e instanceof BerthError ? e : new BerthError(500, "internal_error", (e as Error).message);
      out = { error: { status: err.status, code: err.code, message: err.message } };
    }
    await this.d.store.finishCommand(id, JSON.stringify(out)).catch((e: Error) => this.d.logger.error({ err: e.message, command: id }, "could not store a command's result"));
  }
}
