// The e2e tests' and benchmarks' own HTTP client: plain and close to the wire, so a test sees
// exactly what the server answered. Users get the SDK (packages/client, berth-client).
import { createParser } from "eventsource-parser";
import type { BerthEvent } from "../../src/events/types.js";
import type { CreateSessionInput, PermissionAnswer, SessionView as SessionInfo, TurnView as TurnInfo } from "../../src/sessions/contract.js";

export interface ApiErrorBody {
  error: { code: string; message: string };
}

export class BerthApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// The client's types are the server's contract, inferred from the same schemas (type-only:
// nothing of the server is loaded).
export type { SessionView as SessionInfo, TurnView as TurnInfo } from "../../src/sessions/contract.js";

/** A small typed client for berth's HTTP API (used by the CLI, tests and embedders). */
export class BerthClient {
  constructor(
    readonly baseUrl: string,
    private token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (res.status >= 400) {
      const e = (parsed as ApiErrorBody | undefined)?.error;
      throw new BerthApiError(res.status, e?.code ?? "http_error", e?.message ?? `HTTP ${res.status}`);
    }
    return { status: res.status, body: parsed as T };
  }

  async createSession(body: CreateSessionInput): Promise<SessionInfo> {
    return (await this.request<SessionInfo>("POST", "/v1/sessions", body)).body;
  }
  async getSession(id: string): Promise<SessionInfo> {
    return (await this.request<SessionInfo>("GET", `/v1/sessions/${id}`)).body;
  }
  async listSessions(): Promise<SessionInfo[]> {
    return (await this.request<{ sessions: SessionInfo[] }>("GET", "/v1/sessions")).body.sessions;
  }
  async endSession(id: string): Promise<SessionInfo> {
    return (await this.request<SessionInfo>("DELETE", `/v1/sessions/${id}`)).body;
  }
  async postTurn(id: string, prompt: string | unknown[], idempotencyKey?: string): Promise<TurnInfo> {
    return (await this.request<TurnInfo>("POST", `/v1/sessions/${id}/turns`, { prompt, ...(idempotencyKey ? { idempotencyKey } : {}) })).body;
  }
  async cancel(id: string): Promise<{ turnId: string }> {
    return (await this.request<{ turnId: string }>("POST", `/v1/sessions/${id}/cancel`)).body;
  }
  async answerPermission(id: string, permissionId: string, answer: PermissionAnswer) {
    return (await this.request("POST", `/v1/sessions/${id}/permissions/${permissionId}`, answer)).body;
  }
  async eventsPage(id: string, after = 0, limit = 1000): Promise<{ events: BerthEvent[]; lastSeq: number; nextAfter: number }> {
    return (await this.request<any>("GET", `/v1/sessions/${id}/events?after=${after}&limit=${limit}`, undefined, { accept: "application/json" })).body;
  }

  /**
   * Follows a session's event stream; reconnects with Last-Event-ID if the connection
   * drops, so the caller sees every event once, in order. Ends once the session has ended
   * (after its last event, or on the server's 204); stops when `signal` aborts.
   */
  async *events(id: string, opts: { after?: number; signal?: AbortSignal; reconnect?: boolean } = {}): AsyncGenerator<BerthEvent> {
    let last = opts.after ?? 0;
    for (;;) {
      if (opts.signal?.aborted) return;
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}/v1/sessions/${id}/events`, {
          headers: { authorization: `Bearer ${this.token}`, accept: "text/event-stream", "last-event-id": String(last) },
          signal: opts.signal,
        });
      } catch (e) {
        if (opts.signal?.aborted) return;
        if (opts.reconnect === false) throw e;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (res.status >= 400) {
        const body = (await res.json().catch(() => undefined)) as ApiErrorBody | undefined;
        throw new BerthApiError(res.status, body?.error.code ?? "http_error", body?.error.message ?? `HTTP ${res.status}`);
      }
      if (res.status === 204) return; // ended, nothing left
      let ended = false;
      const queue: BerthEvent[] = [];
      const parser = createParser({ onEvent: (m) => queue.push(JSON.parse(m.data) as BerthEvent) });
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          parser.feed(decoder.decode(chunk, { stream: true }));
          while (queue.length) {
            const ev = queue.shift()!;
            if (ev.seq <= last) continue;
            last = ev.seq;
            if (ev.type === "session.status" && ev.data.state === "ended") ended = true;
            yield ev;
          }
        }
      } catch (e) {
        if (opts.signal?.aborted) return;
        if (opts.reconnect === false) throw e;
      }
      if (ended || opts.reconnect === false) return;
    }
  }
}
