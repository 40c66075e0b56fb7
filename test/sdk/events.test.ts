import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Berth, BerthError, type BerthEvent } from "../../packages/client/src/index.js";

// The SDK's event iterator against a small HTTP server that misbehaves on purpose: it drops
// the connection mid-stream, skips a sequence number on the live stream, and serves the
// JSON pages the SDK falls back on. (The real server is exercised in test/e2e/sdk.test.ts.)

const N = 30;
const event = (seq: number): BerthEvent =>
  seq === N
    ? { seq, ts: "t", sessionId: "s", type: "session.status", data: { state: "ended" } }
    : { seq, ts: "t", sessionId: "s", turnId: "turn_1", type: "message.delta", data: { text: `${seq} ` } };
const frame = (ev: BerthEvent) => `id: ${ev.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;

let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("Session.events()", () => {
  it("yields every event exactly once, in order, across dropped connections and a skipped sequence number", async () => {
    const cursors: number[] = [];
    let pages = 0;
    const url = await serve((req, res) => {
      const u = new URL(req.url!, "http://x");
      if (req.headers.authorization !== "Bearer tok") return res.writeHead(401).end();
      if (u.pathname === "/v1/sessions/s") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: "s", state: "running", lastSeq: 0 }));
      const after = Number(req.headers["last-event-id"] ?? u.searchParams.get("after") ?? 0);
      if (req.headers.accept !== "text/event-stream") {
        pages++;
        const limit = Number(u.searchParams.get("limit"));
        const events = Array.from({ length: Math.min(limit, N - after) }, (_, i) => event(after + 1 + i));
        return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ events, lastSeq: N, nextAfter: after + events.length }));
      }
      cursors.push(after);
      res.writeHead(200, { "content-type": "text/event-stream" });
      // First connection: 1..10, then a duplicate of 10, then the socket dies mid-frame.
      if (cursors.length === 1) {
        for (let s = 1; s <= 10; s++) res.write(frame(event(s)));
        res.write(frame(event(10)));
        res.write("id: 11\nevent: message.delta\ndata: {\"seq\":1");
        return void setTimeout(() => res.destroy(), 50);
      }
      // Second: from the cursor, but 14..16 never sent (a gap), then closed without the end.
      if (cursors.length === 2) {
        for (let s = after + 1; s <= 20; s++) if (s < 14 || s > 16) res.write(frame(event(s)));
        return res.end();
      }
      for (let s = after + 1; s <= N; s++) res.write(frame(event(s)));
      res.end();
    });
    const session = await Berth.connect({ baseUrl: url, token: "tok" }).session("s");
    const seen: number[] = [];
    for await (const ev of session.events({ retryMs: 1 })) seen.push(ev.seq);
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(cursors).toEqual([0, 10, 20]);
    expect(pages).toBe(1); // 14..16 from the log
  });

  it("ends on the server's 204, and reports API errors as BerthError with the server's code", async () => {
    const url = await serve((req, res) => {
      if (req.url!.startsWith("/v1/sessions/gone")) return res.writeHead(204).end();
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "session_not_found", message: "no session nope" } }));
    });
    const berth = Berth.connect({ baseUrl: url, token: "tok" });
    const none: BerthEvent[] = [];
    for await (const ev of berth.events("gone")) none.push(ev);
    expect(none).toEqual([]);
    const err = await berth.session("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({ status: 404, code: "session_not_found", message: "no session nope" });
  });

  it("gives up after maxRetries failed reconnects, with a network_error", async () => {
    const url = await serve((_req, res) => res.destroy());
    const berth = Berth.connect({ baseUrl: url, token: "tok" });
    const err = await (async () => {
      for await (const _ of berth.events("s", { retryMs: 1, maxRetries: 2 })) void _;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "network_error" });
  });

  it("refuses a baseUrl that is not http(s)", () => {
    expect(() => Berth.connect({ baseUrl: "file:///etc/passwd", token: "t" })).toThrow(BerthError);
  });
});
