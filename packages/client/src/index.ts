// berth-client: a typed client for berth's HTTP API (Node ≥ 20 and browsers; no dependencies
// beyond an SSE parser). `startLocalServer` (Node only) is in "berth-client/local".
import { BerthError } from "./errors.js";
import { followEvents, type FollowOptions } from "./events.js";
import { Session } from "./session.js";
import { Transport, type ConnectOptions, type Upload } from "./transport.js";
import type { BerthEvent, ConformanceReport, CreateSessionRequest, Harness, Provider, SessionInfo, SessionState } from "./types.js";

export interface SessionListOptions {
  /** Sessions per page (default 100, at most 1000). */
  limit?: number;
  /** Only sessions in this state, or in any of these. */
  state?: SessionState | SessionState[];
}

export class Berth {
  private constructor(private readonly t: Transport) {}

  static connect(opts: ConnectOptions): Berth {
    return new Berth(new Transport(opts));
  }

  get baseUrl(): string {
    return this.t.baseUrl;
  }

  /** Creates a session; `await session.ready()` before its first prompt, or just prompt (it queues). */
  async createSession(request: CreateSessionRequest, o: { archive?: Upload } = {}): Promise<Session> {
    // With an archive: the session waits for it (workspace {upload: true}), then starts its harness.
    const body = o.archive !== undefined ? { ...request, workspace: { upload: true as const } } : request;
    const s = new Session(this.t, await this.t.json<SessionInfo>("POST", "/v1/sessions", { body }));
    if (o.archive !== undefined) {
      try {
        await s.uploadArchive(o.archive);
      } catch (e) {
        await s.end().catch(() => undefined);
        throw e;
      }
    }
    return s;
  }

  /** An existing session, read from the server. */
  async session(id: string): Promise<Session> {
    return new Session(this.t, await this.t.json<SessionInfo>("GET", `/v1/sessions/${encodeURIComponent(id)}`));
  }

  /** One page of sessions, newest first (`limit`, default 100; `state` to filter). */
  async sessions(o: SessionListOptions = {}): Promise<Session[]> {
    return (await this.sessionPage(o)).sessions;
  }

  /** One page of sessions and, when more follow, the cursor of the next: pass it as `before`. */
  async sessionPage(o: SessionListOptions & { before?: string } = {}): Promise<{ sessions: Session[]; nextCursor?: string }> {
    const q = new URLSearchParams();
    if (o.limit) q.set("limit", String(o.limit));
    if (o.state) q.set("state", [o.state].flat().join(","));
    if (o.before) q.set("before", o.before);
    const query = q.toString() ? `?${q}` : "";
    const page = await this.t.json<{ sessions: SessionInfo[]; nextCursor?: string }>("GET", `/v1/sessions${query}`);
    return { sessions: page.sessions.map((s) => new Session(this.t, s)), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  }

  /** Every session (in `state`, if given), newest first, read a page (`limit`) at a time. */
  async *allSessions(o: SessionListOptions = {}): AsyncGenerator<Session, void, undefined> {
    let before: string | undefined;
    do {
      const page = await this.sessionPage({ ...o, ...(before ? { before } : {}) });
      yield* page.sessions;
      before = page.nextCursor;
    } while (before);
  }

  /** A session's events by id, without reading the session first (see Session.events). */
  events(sessionId: string, o: FollowOptions = {}): AsyncGenerator<BerthEvent, void, undefined> {
    return followEvents(this.t, sessionId, o);
  }

  async harnesses(): Promise<Harness[]> {
    return (await this.t.json<{ harnesses: Harness[] }>("GET", "/v1/harnesses")).harnesses;
  }

  /** The provider routes models resolve through, and whether each one's secret is present. */
  async providers(): Promise<Provider[]> {
    return (await this.t.json<{ providers: Provider[] }>("GET", "/v1/providers")).providers;
  }

  /** Each tier's latest isolation-contract report (`berth conformance` on the server's home). */
  async conformance(): Promise<ConformanceReport[]> {
    return (await this.t.json<{ reports: ConformanceReport[] }>("GET", "/v1/conformance")).reports;
  }

  /** Liveness: the process answers. */
  async health(): Promise<{ status: string }> {
    return this.t.json("GET", "/health");
  }

  /** Readiness: recovered from its previous run, store and default tier usable; `reason` says why not. */
  async ready(): Promise<{ status: "ready" | "not_ready"; reason?: string }> {
    const res = await this.t.send("GET", "/ready", { headers: { accept: "application/json" } });
    if (res.status !== 200 && res.status !== 503) throw await BerthError.from(res);
    return (await res.json()) as { status: "ready" | "not_ready"; reason?: string };
  }
}

export { Session } from "./session.js";
export type { Decision, PermissionRequest, Prompt, PromptOptions, TurnResult, Usage } from "./session.js";
export { BerthError } from "./errors.js";
export type { FollowOptions } from "./events.js";
export type { ConnectOptions, Upload } from "./transport.js";
export type * from "./types.js";
