import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BerthEvent } from "../../../src/events/types.js";
import { API_TOKEN, collect, isReady, REPO, startBerth, type BerthProc } from "../helpers.js";

// Section 5a: the SSE stream of an ended session never closed, so every follower (and
// `berth sessions events --follow`) hung for ever and held a socket. It now ends after the
// terminal event; a reconnect with nothing left gets 204.

let berth: BerthProc;
beforeAll(async () => {
  berth = await startBerth();
});
afterAll(async () => berth?.stop());

const auth = { authorization: `Bearer ${API_TOKEN}` };

/** Reads an SSE response to its end: the events, and whether the server closed it. */
async function readToEnd(res: Response): Promise<BerthEvent[]> {
  const text = await res.text(); // resolves only when the server ends the response
  return text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => JSON.parse(l.slice(6)) as BerthEvent);
}
const sse = (id: string, lastEventId?: number) =>
  fetch(`${berth.url}/v1/sessions/${id}/events`, { headers: { ...auth, accept: "text/event-stream", ...(lastEventId !== undefined ? { "last-event-id": String(lastEventId) } : {}) } });
const isEnded = (e: BerthEvent) => e.type === "session.status" && (e.data as any).state === "ended";

describe("SSE end of stream", () => {
  it("an open stream ends after the ended status; a reconnect gets 204, or the rest then the end", async () => {
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    const open = await sse(s.id);
    expect(open.status).toBe(200);
    const streamed = readToEnd(open);
    await berth.client.endSession(s.id);
    const events = await streamed;
    expect(events.length).toBeGreaterThan(2);
    expect(isEnded(events.at(-1)!)).toBe(true);
    const last = events.at(-1)!.seq;
    expect(last).toBe((await berth.client.getSession(s.id)).lastSeq);

    for (const at of [last, last + 1, 9007199254740991]) {
      const r = await sse(s.id, at);
      expect(r.status, `Last-Event-ID ${at}`).toBe(204);
      expect(await r.text()).toBe("");
    }
    const rest = await readToEnd(await sse(s.id, last - 2));
    expect(rest.map((e) => e.seq)).toEqual([last - 1, last]);
    const all = await readToEnd(await sse(s.id));
    expect(all.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    // ?after= is the same cursor.
    const viaQuery = await fetch(`${berth.url}/v1/sessions/${s.id}/events?after=${last}`, { headers: { ...auth, accept: "text/event-stream" } });
    expect(viaQuery.status).toBe(204);

    // The TS client's iterator ends by itself, from the start and from the end.
    const seen: number[] = [];
    for await (const ev of berth.client.events(s.id)) seen.push(ev.seq);
    expect(seen).toEqual(events.map((e) => e.seq));
    for await (const ev of berth.client.events(s.id, { after: last })) throw new Error(`unexpected event ${ev.seq}`);
  });

  it("berth sessions events --follow exits 0 when the session ends, and at once for an ended one", async () => {
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    const follow = (id: string) => {
      const child = spawn(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "sessions", "events", "--follow", "--json", id], {
        env: { PATH: process.env.PATH!, BERTH_URL: berth.url, BERTH_TOKEN: API_TOKEN },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      const firstLine = new Promise<void>((r) => child.stdout.once("data", () => r()));
      return { exited, firstLine, out: () => out, err: () => err };
    };
    const live = follow(s.id);
    await live.firstLine; // following, the ready status replayed
    await berth.client.endSession(s.id);
    expect(await live.exited, live.err()).toBe(0);
    const printed = live.out().trim().split("\n").map((l) => JSON.parse(l) as BerthEvent);
    expect(isEnded(printed.at(-1)!)).toBe(true);

    const again = follow(s.id);
    expect(await again.exited, again.err()).toBe(0);
    expect(again.out().trim().split("\n")).toHaveLength(printed.length);
  });
});
