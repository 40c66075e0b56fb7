import type { BerthClient } from "./client.js";
import type { BerthEvent } from "../../src/events/types.js";

// Many sessions at once through one berth: each is created, waits for `ready` on its SSE
// stream, runs one turn and is ended. Shared by the concurrency e2e test and bench/density.ts.

export interface ConcurrencyResult {
  sessions: number;
  /** One line per session that failed (its id, what went wrong). */
  errors: string[];
  /** Message chunks a turn's events were missing, over all sessions (the agent sends `updates` each). */
  lost: number;
  /** Sessions whose event sequence had a gap or a duplicate. */
  gaps: number;
  /** POST /v1/sessions → `ready`, and POST turn → `turn.ended`, ms, per completed session. */
  ready: number[];
  turn: number[];
  wallMs: number;
}

export async function runConcurrently(
  client: BerthClient,
  o: { sessions: number; harness: string; tier: string; updates: number; timeoutMs: number; prompt?: string },
): Promise<ConcurrencyResult> {
  const r: ConcurrencyResult = { sessions: o.sessions, errors: [], lost: 0, gaps: 0, ready: [], turn: [], wallMs: 0 };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.sessions }, async (_, i) => {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), o.timeoutMs);
      let id: string | undefined;
      try {
        const start = performance.now();
        const s = await client.createSession({ harness: o.harness, tier: o.tier });
        id = s.id;
        const seen: BerthEvent[] = [];
        const it = client.events(s.id, { signal: abort.signal })[Symbol.asyncIterator]();
        const until = async (pred: (e: BerthEvent) => boolean, what: string) => {
          for (;;) {
            const n = await it.next();
            if (n.done) throw new Error(`the event stream ended before ${what}`);
            seen.push(n.value);
            if (n.value.type === "session.status" && (n.value.data as { state?: string }).state === "failed") throw new Error(`failed: ${JSON.stringify(n.value.data).slice(0, 300)}`);
            if (pred(n.value)) return n.value;
          }
        };
        await until((e) => e.type === "session.status" && (e.data as { state?: string }).state === "ready", "ready");
        r.ready.push(performance.now() - start);
        const t1 = performance.now();
        const turn = await client.postTurn(s.id, o.prompt ?? "go");
        const ended = await until((e) => e.type === "turn.ended" && e.turnId === turn.id, "turn.ended");
        r.turn.push(performance.now() - t1);
        if ((ended.data as { stopReason?: string }).stopReason !== "end_turn") throw new Error(`turn stopped with ${JSON.stringify(ended.data)}`);
        const text = seen.filter((e) => e.type === "message.delta" && e.turnId === turn.id).map((e) => String((e.data as { text?: string }).text ?? "")).join("");
        for (let k = 0; k < o.updates; k++) if (!text.includes(`chunk ${k};`)) r.lost++;
        if (seen.some((e, j) => e.seq !== seen[0]!.seq + j)) r.gaps++;
      } catch (e) {
        r.errors.push(`session ${i} ${id ?? "(not created)"}: ${abort.signal.aborted ? `timed out after ${o.timeoutMs} ms` : (e as Error).message}`);
      } finally {
        clearTimeout(timer);
        abort.abort();
        if (id) await client.endSession(id).catch((e: unknown) => r.errors.push(`session ${i} ${id}: end: ${(e as Error).message}`));
      }
    }),
  );
  r.wallMs = performance.now() - t0;
  return r;
}
