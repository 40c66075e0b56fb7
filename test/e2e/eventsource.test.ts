import net from "node:net";
import { EventSource } from "eventsource";
import { describe, expect, it } from "vitest";
import { EVENT_TYPES } from "../../src/events/types.js";
import { API_TOKEN, startBerth } from "./helpers.js";

// A standard EventSource client (the `eventsource` npm package, as browsers behave) on a real
// Pi session, through a TCP proxy that cuts the connection twice in the middle of the stream:
// it reconnects on its own with Last-Event-ID, and every event arrives exactly once.

/** Forwards to `port`; the first `cuts` connections are destroyed after ~`after` bytes from the server. */
async function cuttingProxy(port: number, cuts: number, after: number): Promise<{ port: number; cut: () => number; close: () => void }> {
  let done = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    const cutThis = done < cuts;
    let bytes = 0;
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d: Buffer) => {
      if (cutThis && bytes + d.length > after) {
        client.write(d.subarray(0, Math.max(1, after - bytes))); // half a frame, then gone
        done++;
        client.destroy();
        upstream.destroy();
        return;
      }
      bytes += d.length;
      client.write(d);
    });
    const end = () => (client.destroy(), upstream.destroy());
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, cut: () => done, close: () => server.close() };
}

describe("an EventSource client (the eventsource package)", () => {
  it("gets every event of a live session exactly once across two cut connections; berth's events never collide with its own `error`", async () => {
    const berth = await startBerth();
    const proxy = await cuttingProxy(Number(new URL(berth.url).port), 2, 1500);
    try {
      // A one-token budget: the turn's second model call is refused, which is a session.error event.
      const s = await berth.client.createSession({ harness: "pi", budget: { maxTokens: 1 } });
      const es = new EventSource(`http://127.0.0.1:${proxy.port}/v1/sessions/${s.id}/events`, {
        fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, authorization: `Bearer ${API_TOKEN}` } }),
      });
      const seqs: number[] = [];
      const types: string[] = [];
      const ids: string[] = [];
      let connectionErrors = 0;
      let posted = false;
      const closed = new Promise<void>((resolve) => {
        for (const type of EVENT_TYPES)
          es.addEventListener(type, (m) => {
            const ev = JSON.parse(m.data) as { seq: number; type: string; data: { state?: string } };
            seqs.push(ev.seq);
            types.push(type);
            ids.push(m.lastEventId);
            expect(ev.type).toBe(type);
            if (type === "session.status" && ev.data.state === "ready" && !posted) {
              posted = true;
              void berth.client.postTurn(s.id, "Create hello.txt");
            }
            if (type === "turn.ended") void berth.client.endSession(s.id);
          });
        es.addEventListener("error", () => {
          connectionErrors++;
          // After the session's end the server answers the reconnect with 204, and the client stops.
          if (es.readyState === EventSource.CLOSED) resolve();
        });
      });
      await closed;
      es.close();
      const last = (await berth.client.getSession(s.id)).lastSeq;
      expect(proxy.cut()).toBe(2);
      expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      expect(ids).toEqual(seqs.map(String));
      expect(types).toContain("tool.call");
      expect(types).toContain("session.error");
      expect(types.at(-1)).toBe("session.status");
      // Only connection errors reach the `error` listener: the two cuts, the server closing the
      // stream after the session's end, and the 204 that answers the reconnect after it.
      expect(connectionErrors).toBe(4);
    } finally {
      proxy.close();
      await berth.stop();
    }
  }, 120_000);
});
