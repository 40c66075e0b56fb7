import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startBerth, type BerthProc } from "../helpers.js";
import { holdSocket, rawRequest, type HeldSocket } from "./raw-http.js";

// Attack: hold many sockets open without finishing a request (idle, partial headers,
// headers or a body dripped a byte at a time) to starve the API. berth closes each after
// its timeout, and answers others meanwhile; an SSE stream is not cut by those timeouts.

const LIMITS = {
  BERTH_HTTP_HEADERS_TIMEOUT_MS: "1000",
  BERTH_HTTP_REQUEST_TIMEOUT_MS: "2000",
  BERTH_HTTP_KEEPALIVE_TIMEOUT_MS: "1000",
};
const auth = { authorization: `Bearer ${API_TOKEN}` };

let berth: BerthProc;
beforeAll(async () => {
  berth = await startBerth({ env: LIMITS });
});
afterAll(async () => berth?.stop());

/** Opens `n` held sockets, a few at a time (the test runner has its own socket limits too). */
async function hold(n: number, open: () => Promise<HeldSocket>): Promise<HeldSocket[]> {
  const out: HeldSocket[] = [];
  for (let i = 0; i < n; i += 25) out.push(...(await Promise.all(Array.from({ length: Math.min(25, n - i) }, open))));
  return out;
}

describe("slow and idle clients", () => {
  it("idle, partial-header, slowloris and slow-body sockets are closed by the server; the API answers meanwhile", async () => {
    const host = new URL(berth.url).host;
    const idle = await hold(200, () => holdSocket(berth.url));
    const partial = await hold(50, () => holdSocket(berth.url, `GET /v1/sessions HTTP/1.1\r\nHost: ${host}\r\n`));
    const slowHeaders = await hold(20, () => holdSocket(berth.url, `GET /health HTTP/1.1\r\nHost: ${host}\r\n`, { text: "X-Pad: a\r\n", everyMs: 200 }));
    const slowBody = await hold(10, () =>
      holdSocket(
        berth.url,
        `POST /v1/sessions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"harness":"`,
        { text: "p", everyMs: 200 },
      ),
    );
    // A finished request on a keep-alive socket, then nothing.
    const keptAlive = await hold(20, () => holdSocket(berth.url, `GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    const all = [...idle, ...partial, ...slowHeaders, ...slowBody, ...keptAlive];
    expect(all.filter((s) => s.open()).length).toBeGreaterThan(250);

    // While they are held, the API answers.
    expect((await fetch(`${berth.url}/health`)).status).toBe(200);
    const list = await fetch(`${berth.url}/v1/sessions`, { headers: auth });
    expect(list.status).toBe(200);
    expect(((await list.json()) as any).sessions).toEqual([]);

    // Every one is closed by the server (the test never closes them).
    const closed = await Promise.all(all.map((s) => s.closed));
    for (const r of closed.slice(0, idle.length + partial.length + slowHeaders.length + slowBody.length)) {
      // Either a 408 in the documented shape, or (a socket that sent nothing) just closed.
      if (r.raw.length === 0) continue;
      expect(r.status).toBe(408);
      expect(JSON.parse(r.body).error.code).toBe("request_timeout");
    }
    for (const r of closed.slice(-keptAlive.length)) expect(r.status).toBe(200);
    // The slow body never became a session.
    expect(((await (await fetch(`${berth.url}/v1/sessions`, { headers: auth })).json()) as any).sessions).toEqual([]);
    expect((await fetch(`${berth.url}/health`)).status).toBe(200);
  });

  it("an SSE stream outlives the request and keep-alive timeouts once its headers are in", async () => {
    const s = await berth.client.createSession({ harness: "pi" });
    const res = await fetch(`${berth.url}/v1/sessions/${s.id}/events`, { headers: { ...auth, accept: "text/event-stream" } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before '${needle}':\n${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    await readUntil("event: session.status");
    // Longer than the request (2 s) and keep-alive (1 s) timeouts, plus Node's sweep interval.
    await new Promise((r) => setTimeout(r, 3_500));
    await berth.client.endSession(s.id);
    await readUntil('"state":"ended"');
    await reader.cancel();
  });
});

describe("connection cap", () => {
  it("connections past BERTH_HTTP_MAX_CONNECTIONS are closed at once; the server serves again once held ones time out", async () => {
    const capped = await startBerth({ env: { ...LIMITS, BERTH_HTTP_MAX_CONNECTIONS: "30" } });
    try {
      const held = await hold(30, () => holdSocket(capped.url));
      const extra = await holdSocket(capped.url, `GET /health HTTP/1.1\r\nHost: ${new URL(capped.url).host}\r\n\r\n`);
      const r = await extra.closed;
      expect(r.raw).toBe(""); // dropped, never served
      await Promise.all(held.map((s) => s.closed));
      const after = await rawRequest(capped.url, `GET /health HTTP/1.1\r\nHost: ${new URL(capped.url).host}\r\nConnection: close\r\n\r\n`);
      expect(after.status).toBe(200);
    } finally {
      await capped.stop();
    }
  });

  it("refuses to start on a zero or malformed limit (0 would mean no limit to Node)", async () => {
    for (const [name, value] of [
      ["BERTH_HTTP_HEADERS_TIMEOUT_MS", "0"],
      ["BERTH_HTTP_MAX_CONNECTIONS", "-1"],
      ["BERTH_HTTP_REQUEST_TIMEOUT_MS", "1e3"],
    ]) {
      await expect(startBerth({ env: { [name!]: value! } })).rejects.toThrow(`${name}="${value}" is not a whole number of at least 1`);
    }
  });
});
