import { BerthError } from "./errors.js";
import { followEvents, type FollowOptions } from "./events.js";
import type { Transport, Upload } from "./transport.js";
import type { ArchiveUploaded, BerthEvent, EventOf, FileList, FileWritten, PermissionAnswer, PostTurnRequest, SessionInfo, Turn, TurnDiff } from "./types.js";

export type PermissionRequest = EventOf<"permission.requested">;
/** Text, or ACP content blocks. */
export type Prompt = PostTurnRequest["prompt"];
/** allow / deny (berth picks the harness's matching option), or one of the request's own options. */
export type Decision = "allow" | "deny" | { optionId: string };

export interface PromptOptions {
  /** A retried prompt with the same key is the same turn (safe to retry after a network error). */
  idempotencyKey?: string;
  /** Answers the turn's permission requests as they come (sessions with permissionPolicy "ask"). */
  onPermission?: (request: PermissionRequest) => Decision | Promise<Decision>;
  /** Every event of the turn as it arrives (streaming text, tool calls...). */
  onEvent?: (event: BerthEvent) => void;
  signal?: AbortSignal;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  modelCalls: number;
}

export interface TurnResult {
  turn: Turn;
  /** The ACP stop reason (end_turn, cancelled, max_tokens...) or berth's (budget_exceeded, turn_timeout...). */
  stopReason: string | null;
  /** Summed over the turn's model calls. */
  usage: Usage;
  /** The assistant's text, the turn's message.delta events joined. */
  text: string;
  /** Every event of the turn, in order. */
  events: BerthEvent[];
}

const LIVE: SessionInfo["state"][] = ["ready", "running"];

/** One berth session. Methods call the API; `info` is what the last call returned. */
export class Session {
  constructor(
    private readonly t: Transport,
    public info: SessionInfo,
  ) {}

  get id(): string {
    return this.info.id;
  }

  private get path(): string {
    return `/v1/sessions/${encodeURIComponent(this.id)}`;
  }

  /** Reads the session again. */
  async refresh(): Promise<SessionInfo> {
    return (this.info = await this.t.json<SessionInfo>("GET", this.path));
  }

  /** Resolves once the session is ready for turns; rejects (code session_failed) if it fails or ends first. */
  async ready(o: { signal?: AbortSignal } = {}): Promise<SessionInfo> {
    const info = await this.refresh();
    if (LIVE.includes(info.state)) return info;
    if (info.state !== "starting") throw failed(info);
    for await (const ev of this.events({ after: info.lastSeq, ...o })) {
      if (ev.type !== "session.status") continue;
      if (ev.data.state === "ready") return this.refresh();
      if (ev.data.state !== "starting") throw failed(await this.refresh());
    }
    throw failed(await this.refresh());
  }

  /**
   * Sends a prompt and resolves when its turn ends, with the stop reason, the usage and the
   * turn's events. Queued behind a running turn, like any turn.
   */
  async prompt(prompt: Prompt, o: PromptOptions = {}): Promise<TurnResult> {
    // Follow from the log's current end, so nothing of this turn can be missed.
    const from = (await this.refresh()).lastSeq;
    const turn = await this.send(prompt, o);
    const events: BerthEvent[] = [];
    for await (const ev of this.events({ after: from, ...(o.signal ? { signal: o.signal } : {}) })) {
      if (ev.turnId !== turn.id) {
        if (ev.type === "session.status" && (ev.data.state === "ended" || ev.data.state === "failed")) break;
        continue;
      }
      events.push(ev);
      o.onEvent?.(ev);
      if (ev.type === "permission.requested" && o.onPermission) await this.respond(ev, await o.onPermission(ev));
      if (ev.type === "turn.ended") return { turn: await this.turn(turn.id), stopReason: ev.data.stopReason, usage: usageOf(events), text: textOf(events), events };
    }
    if (o.signal?.aborted) throw new BerthError(0, "aborted", "stopped waiting for the turn");
    throw failed(await this.refresh());
  }

  /** Queues a turn and returns at once (`prompt` also waits for it); follow `events()` for its progress. */
  async send(prompt: Prompt, o: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<Turn> {
    return this.t.json<Turn>("POST", `${this.path}/turns`, {
      body: { prompt, ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}) },
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  /** The session's events (see followEvents): `for await (const ev of session.events())`. */
  events(o: FollowOptions = {}): AsyncGenerator<BerthEvent, void, undefined> {
    return followEvents(this.t, this.id, o);
  }

  /** Cancels the running turn; it ends with stop reason `cancelled`. */
  async cancel(): Promise<{ turnId: string }> {
    return this.t.json("POST", `${this.path}/cancel`);
  }

  /** Answers a permission request (the event, or its permissionId). */
  async respond(permission: PermissionRequest | string, decision: Decision): Promise<{ permissionId: string; optionId: string | null }> {
    const id = typeof permission === "string" ? permission : permission.data.permissionId;
    const body: PermissionAnswer = typeof decision === "string" ? { decision } : { optionId: decision.optionId };
    return this.t.json("POST", `${this.path}/permissions/${encodeURIComponent(id)}`, { body });
  }

  /** Restarts an interrupted or failed session's harness (ACP session/load); then `ready()`. */
  async resume(o: { secrets?: Record<string, string> } = {}): Promise<SessionInfo> {
    return (this.info = await this.t.json<SessionInfo>("POST", `${this.path}/resume`, { body: o.secrets ? { secrets: o.secrets } : {} }));
  }

  /** Ends the session for good (idempotent). */
  async end(): Promise<SessionInfo> {
    return (this.info = await this.t.json<SessionInfo>("DELETE", this.path));
  }

  /** Ends the session and deletes it: record, events, files (never a caller's workspace). Its id is unknown afterwards. */
  async delete(): Promise<void> {
    await this.t.bytes("DELETE", `${this.path}?purge=true`);
  }

  /**
   * A new session forked from this one as of a turn's end (default: its last ended turn):
   * a copy of the workspace then, and the conversation up to it (ready says context: rebuilt).
   */
  async fork(o: { atTurn?: string; secrets?: Record<string, string>; metadata?: Record<string, string> } = {}): Promise<Session> {
    return new Session(this.t, await this.t.json<SessionInfo>("POST", `${this.path}/fork`, { body: o }));
  }

  /** The session's turns, in order. */
  async turns(): Promise<Turn[]> {
    return (await this.t.json<{ turns: Turn[] }>("GET", `${this.path}/turns`)).turns;
  }

  /** What a turn changed in the workspace: files added, modified, deleted, and the unified diff. */
  async diff(turnId: string): Promise<TurnDiff> {
    return this.t.json<TurnDiff>("GET", `${this.path}/turns/${encodeURIComponent(turnId)}/diff`);
  }

  // --- the workspace (files API) ------------------------------------------------

  private files(rest: string, path: string | undefined, extra = ""): string {
    return `${this.path}/files${rest}?path=${encodeURIComponent(path ?? "")}${extra}`;
  }

  /** A directory of the workspace ("" or absent: its root), entries by name. */
  async listFiles(path = "", o: { limit?: number } = {}): Promise<FileList> {
    return this.t.json<FileList>("GET", this.files("", path, o.limit ? `&limit=${o.limit}` : ""));
  }

  /** A file of the workspace as a stream; `offset`/`length` for part of it (an HTTP range). */
  async readFileStream(path: string, o: { offset?: number; length?: number; signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const ranged = o.offset !== undefined || o.length !== undefined;
    const from = o.offset ?? 0;
    const range: Record<string, string> = ranged ? { range: `bytes=${from}-${o.length !== undefined ? from + o.length - 1 : ""}` } : {};
    const res = await this.t.bytes("GET", this.files("/content", path), { headers: range, ...(o.signal ? { signal: o.signal } : {}) });
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /** A file of the workspace, whole or a range of it. */
  async readFile(path: string, o: { offset?: number; length?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return new Uint8Array(await new Response(await this.readFileStream(path, o)).arrayBuffer());
  }

  /** Writes a file into the workspace (parent directories made); refused (409 turn_running) while a turn runs. */
  async writeFile(path: string, data: Upload): Promise<FileWritten> {
    return this.t.json<FileWritten>("PUT", this.files("/content", path), { raw: { data, contentType: "application/octet-stream" } });
  }

  /** Extracts a tar or tar.gz into a directory of the workspace (the root by default); unsafe entries refuse it whole. */
  async uploadArchive(archive: Upload, o: { path?: string } = {}): Promise<ArchiveUploaded> {
    return this.t.json<ArchiveUploaded>("PUT", this.files("/archive", o.path), { raw: { data: archive, contentType: "application/x-tar" } });
  }

  /** A directory of the workspace (the root by default) as a tar stream. */
  async downloadArchive(o: { path?: string; signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.t.bytes("GET", this.files("/archive", o.path), o.signal ? { signal: o.signal } : {});
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  private async turn(id: string): Promise<Turn> {
    const t = (await this.turns()).find((x) => x.id === id);
    if (!t) throw new BerthError(404, "not_found", `turn ${id} is not in session ${this.id}`);
    return t;
  }
}

function failed(info: SessionInfo): BerthError {
  return new BerthError(0, "session_failed", `session ${info.id} is ${info.state}${info.error ? `: ${info.error}` : ""}`);
}

function usageOf(events: BerthEvent[]): Usage {
  const u: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 };
  for (const ev of events) {
    if (ev.type !== "model.call") continue;
    u.modelCalls++;
    u.inputTokens += ev.data.usage?.inputTokens ?? 0;
    u.outputTokens += ev.data.usage?.outputTokens ?? 0;
    u.costUsd += ev.data.costUsd ?? 0;
  }
  return u;
}

function textOf(events: BerthEvent[]): string {
  let s = "";
  for (const ev of events) if (ev.type === "message.delta" && typeof ev.data.text === "string") s += ev.data.text;
  return s;
}
