import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, parseMockScript, type MockProvider } from "../../src/mock/index.js";
import { API_TOKEN, assertContiguous, collect, isReady, sessionPids, startBerth, turnEnded } from "./helpers.js";

const KEY = "sk-ant-api03-durable" + "Z".repeat(40);
// The second model call hangs for a minute: the turn is mid-flight when berth is killed.
const script = parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo one > one.txt" } }
  - text: "never sent in time"
    delay_ms: 60000
`);

let mock: MockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ script, requireKey: KEY });
});
afterAll(async () => mock?.close());

describe("durability", () => {
  it("SSE resume with Last-Event-ID delivers exactly the missed events", async () => {
    const berth = await startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url } });
    try {
      const s = await berth.client.createSession({ harness: "pi" });
      await collect(berth.client, s.id, isReady);
      const t = await berth.client.postTurn(s.id, "go");
      await collect(berth.client, s.id, (e) => e.type === "tool.update" && (e.data as any).status === "completed");
      await berth.client.cancel(s.id);
      await collect(berth.client, s.id, turnEnded(t.id));
      const all = (await berth.client.eventsPage(s.id)).events;
      expect(all.length).toBeGreaterThan(6);

      // Read N events raw over SSE, drop the connection, reconnect with Last-Event-ID.
      const N = 4;
      const first = await readSse(berth.url, s.id, {}, N);
      expect(first.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      const rest = await readSse(berth.url, s.id, { "last-event-id": String(N) }, all.length - N);
      expect(rest.map((e) => e.seq)).toEqual(all.slice(N).map((e) => e.seq));
      expect(rest).toEqual(all.slice(N));
      // ?after= is the same cursor for clients that cannot set headers.
      const viaQuery = await readSse(berth.url, s.id, {}, all.length - N, `?after=${N}`);
      expect(viaQuery).toEqual(all.slice(N));
    } finally {
      await berth.stop();
    }
  });

  it("SIGKILL mid-turn: committed events survive, the session is interrupted, no sandbox survives, new sessions work", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-crash-"));
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url };
    const berth = await startBerth({ home, env });
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    await berth.client.postTurn(s.id, "go");
    // Wait until the tool ran and the second (hanging) model call is in flight.
    const seen = await collect(berth.client, s.id, (e) => e.type === "model.call" || (e.type === "tool.update" && (e.data as any).status === "completed"));
    await new Promise((r) => setTimeout(r, 500));
    const before = (await berth.client.eventsPage(s.id)).events;
    expect(before.length).toBeGreaterThanOrEqual(seen.length);
    expect(sessionPids(s.id).length).toBeGreaterThan(0);
    await berth.stop("SIGKILL");

    // bubblewrap's --die-with-parent takes the sandbox down with berth.
    await waitFor(() => sessionPids(s.id).length === 0, 5000);

    const again = await startBerth({ home, env });
    try {
      const after = (await again.client.eventsPage(s.id)).events;
      assertContiguous(after);
      expect(after.slice(0, before.length)).toEqual(before);
      const tail = after.slice(before.length);
      expect(tail.some((e) => e.type === "session.status" && (e.data as any).state === "interrupted")).toBe(true);
      expect(tail.some((e) => e.type === "turn.ended" && (e.data as any).stopReason === "interrupted")).toBe(true);
      expect((await again.client.getSession(s.id)).state).toBe("interrupted");
      const turns = await again.client.request<{ turns: any[] }>("GET", `/v1/sessions/${s.id}/turns`);
      expect(turns.body.turns[0].state).toBe("interrupted");

      // A new session on the restarted server works end to end.
      const fresh = await again.client.createSession({ harness: "pi" });
      await collect(again.client, fresh.id, isReady);
      await again.client.endSession(fresh.id);
    } finally {
      await again.stop();
    }
  });
});

describe("resume", () => {
  it("an interrupted session resumes: the harness restarts and reloads its conversation (ACP session/load)", async () => {
    const convo = await startMockProvider({
      script: parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo one > one.txt" } }
  - text: "remembered"
`),
      requireKey: KEY,
    });
    const home = mkdtempSync(join(tmpdir(), "berth-resume-"));
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: convo.url };
    const berth = await startBerth({ home, env });
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    const t1 = await berth.client.postTurn(s.id, "first");
    await collect(berth.client, s.id, turnEnded(t1.id));
    await berth.stop("SIGKILL");

    const again = await startBerth({ home, env });
    try {
      expect((await again.client.getSession(s.id)).state).toBe("interrupted");
      await expect(again.client.postTurn(s.id, "too early")).rejects.toMatchObject({ status: 409, code: "session_not_live" });
      const lastSeq = (await again.client.getSession(s.id)).lastSeq;
      const resumed = await again.client.request<any>("POST", `/v1/sessions/${s.id}/resume`);
      expect(resumed.status).toBe(202);
      const ready = await collect(again.client, s.id, isReady, { after: lastSeq });
      expect(ready.at(-1)!.data).toMatchObject({ resumed: true });
      convo.requests.length = 0;
      const t2 = await again.client.postTurn(s.id, "second");
      const evs = await collect(again.client, s.id, turnEnded(t2.id), { after: lastSeq });
      expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
      // The first request of the new turn carries the earlier tool result: the history was reloaded.
      const first = convo.requests.find((r) => r.path.endsWith("/messages"))!;
      expect(first.toolResults).toBe(1);
      expect(evs.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("")).toBe("remembered");
      await expect(again.client.request("POST", `/v1/sessions/${s.id}/resume`)).rejects.toMatchObject({ status: 409, code: "not_resumable" });
    } finally {
      await again.stop();
      await convo.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms: number) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads `count` SSE events with a raw fetch, then drops the connection. */
async function readSse(url: string, id: string, headers: Record<string, string>, count: number, query = "") {
  const abort = new AbortController();
  const res = await fetch(`${url}/v1/sessions/${id}/events${query}`, {
    headers: { authorization: `Bearer ${API_TOKEN}`, accept: "text/event-stream", ...headers },
    signal: abort.signal,
  });
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const out: any[] = [];
  let buf = "";
  const dec = new TextDecoder();
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { value: chunk, done } = await reader.read();
    if (done) break;
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const id = /^id: (\d+)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (!data) continue;
      const ev = JSON.parse(data);
      expect(Number(id)).toBe(ev.seq);
      out.push(ev);
      if (out.length === count) {
        await reader.cancel();
        abort.abort();
        return out;
      }
    }
  }
  return out;
}
