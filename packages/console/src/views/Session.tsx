import { useCallback, useEffect, useRef, useState } from "react";
import type { Berth, BerthEvent, EventOf, Session, SessionInfo } from "berth-client";
import { emptyTimeline, fold, type Timeline, type TurnItem } from "../timeline.js";
import { asText, Clipped, StateBadge } from "./common.js";

type Permission = EventOf<"permission.requested">;

export function SessionView({ berth, id }: { berth: Berth; id: string }) {
  const [session, setSession] = useState<Session>();
  const [info, setInfo] = useState<SessionInfo>();
  const [error, setError] = useState<string>();
  const [timeline, setTimeline] = useState<Timeline>(emptyTimeline);
  const [live, setLive] = useState<"connecting" | "live" | "ended">("connecting");
  const seen = useRef(0);

  useEffect(() => {
    berth.session(id).then(
      (s) => {
        setSession(s);
        setInfo(s.info);
      },
      (e: Error) => setError(e.message),
    );
  }, [berth, id]);

  // The log, replayed then live; the SDK resumes a dropped stream with Last-Event-ID, and the
  // fold ignores any seq it has seen, so the timeline never shows a line twice or misses one.
  useEffect(() => {
    const abort = new AbortController();
    let buffer: BerthEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = buffer;
      buffer = [];
      setTimeline((t) => fold(t, batch));
    };
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          const o = { after: seen.current, signal: abort.signal, retryMs: 500, maxRetries: Infinity, onConnect: () => setLive("live"), onDisconnect: () => setLive("connecting") };
          for await (const ev of berth.events(id, o)) {
            seen.current = ev.seq;
            buffer.push(ev);
            timer ??= setTimeout(flush, 30);
            if (ev.type === "session.status") setInfo((i) => (i ? { ...i, state: ev.data.state } : i));
          }
          if (!abort.signal.aborted) setLive("ended");
          return;
        } catch {
          if (abort.signal.aborted) return;
          setLive("connecting");
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [berth, id]);

  // Each turn's prompt, from the turns API, once the timeline shows a turn it does not know yet.
  const [prompts, setPrompts] = useState<Record<string, string>>({});
  const turnIds = timeline.entries.filter((e) => e.kind === "turn").map((e) => e.key);
  const unknown = turnIds.some((t) => !(t in prompts));
  useEffect(() => {
    if (!unknown || !session) return;
    session.turns().then(
      (turns) => setPrompts(Object.fromEntries(turns.map((t) => [t.id, t.prompt.map((b) => (b.type === "text" && typeof b.text === "string" ? b.text : `[${b.type}]`)).join("\n")]))),
      () => {},
    );
  }, [unknown, session, turnIds.length]);

  const act = useCallback(
    async (what: () => Promise<unknown>) => {
      setError(undefined);
      try {
        await what();
        if (session) setInfo(await session.refresh());
      } catch (e) {
        setError((e as Error).message);
      }
    },
    [session],
  );

  if (!info || !session) return error ? <p role="alert" className="error">{error}</p> : <p className="muted">Loading…</p>;
  const running = info.state === "running";
  return (
    <section aria-labelledby="session-h" className="session">
      <div className="row">
        <h1 id="session-h">
          <code>{info.id}</code>
        </h1>
        <StateBadge state={info.state} />
        <span className={`live live-${live}`} aria-live="polite">
          {live === "live" ? "live" : live === "ended" ? "log complete" : "reconnecting…"}
        </span>
      </div>
      <p className="muted meta">
        {info.harness} {info.harnessVersion} · model {info.model} · tier {info.tier} · policy {info.permissionPolicy} · workspace <code>{info.workspace}</code>
        {info.budget ? ` · spent ${info.budget.spent.tokens.toLocaleString()} tokens${info.budget.maxTokens ? ` of ${info.budget.maxTokens.toLocaleString()}` : ""}` : ""}
      </p>
      {info.error && <p className="error">{info.error}</p>}
      <div className="row actions">
        <button type="button" disabled={!running} onClick={() => act(() => session.cancel())}>
          Cancel turn
        </button>
        <button type="button" disabled={info.state !== "interrupted" && info.state !== "failed"} onClick={() => act(() => session.resume())}>
          Resume
        </button>
        <button type="button" className="danger" disabled={info.state === "ended"} onClick={() => act(() => session.end())}>
          End session
        </button>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      <Permissions session={session} pending={timeline.pending} onError={setError} />
      <ol className="timeline" aria-label="Timeline">
        {timeline.entries.map((e) =>
          e.kind === "status" ? (
            <li key={e.key} className="status">
              session {e.state}
              {e.detail ? `: ${e.detail}` : ""}
              {e.reason ? ` — ${e.reason}` : ""}
            </li>
          ) : e.kind === "error" ? (
            <li key={e.key} className="error" role="note">
              {plainError(e.code, e.message)}
            </li>
          ) : (
            <li key={e.key} className="turn" data-turn={e.turnId}>
              <div className="turn-head">
                Turn {e.idx !== undefined ? e.idx + 1 : ""}
                {e.stopReason !== undefined && <span className={`badge stop-${e.stopReason}`}>{e.stopReason ?? "ended"}</span>}
              </div>
              {prompts[e.turnId] !== undefined && <div className="prompt-text">{prompts[e.turnId]}</div>}
              {e.items.map((item) => (
                <Item key={item.key} item={item} />
              ))}
            </li>
          ),
        )}
      </ol>
      <Prompt session={session} disabled={info.state === "ended" || info.state === "failed" || info.state === "interrupted"} onError={setError} />
    </section>
  );
}

function Item({ item }: { item: TurnItem }) {
  switch (item.kind) {
    case "text":
      return <div className="text">{item.text}</div>;
    case "thought":
      return (
        <details className="thought">
          <summary>Thinking</summary>
          <div>{item.text}</div>
        </details>
      );
    case "tool":
      return (
        <details className={`tool tool-${item.status}`} data-status={item.status}>
          <summary>
            <span className="tool-status" aria-label={`status ${item.status}`}>
              {item.status === "completed" ? "✓" : item.status === "failed" ? "✗" : "…"}
            </span>{" "}
            <strong>{item.title}</strong> {item.toolKind && <span className="muted">{item.toolKind}</span>} <span className="muted">{item.status}</span>
          </summary>
          <ToolPart title="Input" value={item.input} />
          {item.diff?.map((d) => (
            <div key={d.path} className="diff">
              <h4>{d.path}</h4>
              <pre>
                {(d.oldText ?? "").split("\n").map((l, i) => (l ? <span key={`o${i}`} className="del">{`- ${l}\n`}</span> : null))}
                {d.newText.split("\n").map((l, i) => (l ? <span key={`n${i}`} className="add">{`+ ${l}\n`}</span> : null))}
              </pre>
            </div>
          ))}
          <ToolPart title="Output" value={item.output} />
        </details>
      );
    case "permission":
      return (
        <div className="permission-line">
          Permission for <strong>{item.request.data.toolCall.title ?? "a tool"}</strong>:{" "}
          {item.resolved ? `${item.resolved.kind ?? item.resolved.outcome} (by ${item.resolved.by})` : "waiting for an answer"}
        </div>
      );
    case "model":
      return (
        <div className="model muted">
          model call {item.data.model ?? ""} · {item.data.status}
          {item.data.usage ? ` · ${item.data.usage.inputTokens} in / ${item.data.usage.outputTokens} out` : ""}
          {item.data.durationMs !== undefined ? ` · ${Math.round(item.data.durationMs)} ms` : ""}
          {item.data.costUsd ? ` · $${item.data.costUsd.toFixed(4)}` : ""}
        </div>
      );
    case "error":
      return (
        <div className="error" role="note">
          {plainError(item.code, item.message)}
        </div>
      );
    case "changes":
      return (
        <details className="changes">
          <summary>
            Files changed: {item.data.added} added, {item.data.modified} modified, {item.data.deleted} deleted
          </summary>
          <ul>
            {item.data.files.map((f) => (
              <li key={f.path}>
                <code>{f.path}</code> <span className="muted">{f.change}{f.binary ? ", binary" : ""}</span>
              </li>
            ))}
          </ul>
        </details>
      );
    case "plan":
      return (
        <details className="plan">
          <summary>Plan</summary>
          <Clipped text={asText(item.entries)} />
        </details>
      );
  }
}

const PLAIN: Record<string, string> = {
  budget_exceeded: "The session's budget is spent; berth refused further model calls.",
  turn_deadline: "The turn ran past a deadline and was cancelled.",
  model_call_failed: "A model call failed.",
  harness_exited: "The agent's process exited unexpectedly.",
  sandbox_start_failed: "The sandbox could not start.",
};
const plainError = (code: string, message?: string) => `${PLAIN[code] ?? `Error (${code}).`}${message ? ` ${message}` : ""}`;

/** Pending permission requests, first in line: impossible to miss; A allows, D denies the first. */
function Permissions({ session, pending, onError }: { session: Session; pending: Permission[]; onError: (e: string) => void }) {
  const answer = useCallback(
    (p: Permission, d: "allow" | "deny" | { optionId: string }) => session.respond(p, d).catch((e: Error) => onError(e.message)),
    [session, onError],
  );
  useEffect(() => {
    const first = pending[0];
    if (!first) return;
    const on = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLElement && ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) return;
      if (e.key === "a") void answer(first, "allow");
      if (e.key === "d") void answer(first, "deny");
    };
    addEventListener("keydown", on);
    return () => removeEventListener("keydown", on);
  }, [pending, answer]);
  if (pending.length === 0) return null;
  return (
    <div className="permissions" role="alertdialog" aria-labelledby="perm-h" aria-live="assertive">
      <h2 id="perm-h">The agent asks for permission</h2>
      {pending.map((p) => (
        <div key={p.data.permissionId} className="permission">
          <p>
            <strong>{p.data.toolCall.title ?? "A tool call"}</strong> {p.data.toolCall.kind && <span className="muted">({p.data.toolCall.kind})</span>}
          </p>
          {p.data.toolCall.input !== undefined && <Clipped text={asText(p.data.toolCall.input)} limit={600} />}
          <div className="row">
            <button type="button" className="primary" aria-keyshortcuts="a" onClick={() => answer(p, "allow")}>
              Allow <kbd>A</kbd>
            </button>
            <button type="button" className="danger" aria-keyshortcuts="d" onClick={() => answer(p, "deny")}>
              Deny <kbd>D</kbd>
            </button>
            {(p.data.options ?? [])
              .filter((o) => o.kind !== "allow_once" && o.kind !== "reject_once")
              .map((o) => (
                <button type="button" key={o.optionId} onClick={() => answer(p, { optionId: o.optionId })}>
                  {o.name}
                </button>
              ))}
          </div>
        </div>
      ))}
    </div>
  );
}

function Prompt({ session, disabled, onError }: { session: Session; disabled: boolean; onError: (e: string) => void }) {
  const [text, setText] = useState("");
  const send = async () => {
    if (!text.trim()) return;
    try {
      await session.send(text);
      setText("");
    } catch (e) {
      onError((e as Error).message);
    }
  };
  return (
    <form
      className="prompt"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <label htmlFor="prompt">Prompt</label>
      <textarea
        id="prompt"
        rows={3}
        disabled={disabled}
        placeholder={disabled ? "This session takes no more turns" : "Ask the agent… (Ctrl+Enter sends; queued if a turn runs)"}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void send();
        }}
      />
      <button type="submit" className="primary" disabled={disabled || !text.trim()}>
        Send
      </button>
    </form>
  );
}

/** A tool call's input or output, when it has one. */
function ToolPart({ title, value }: { title: string; value: unknown }) {
  if (value === undefined) return null;
  return (
    <div>
      <h4>{title}</h4>
      <Clipped text={asText(value)} />
    </div>
  );
}
