import http from "node:http";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelGateway, singleRoute, type CallAdmission, type CallRequest, type CallUsage } from "../../src/gateway/gateway.js";
import { Redactor } from "../../src/secrets/redact.js";
import { admitCall } from "../../src/sessions/admission.js";
import { SessionBudget } from "../../src/sessions/budget.js";

// The gateway scopes each call to its session: allowlisted paths only, the session's model
// only, a budget reservation per call that is always settled. A local upstream records
// what reached it; `hold` keeps a response open until the test lets it finish.
let upstream: http.Server;
let upstreamUrl: string;
let seen: { method: string; url: string; body: string }[] = [];
const held: (() => void)[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, body });
      if (body.includes('"fail"')) {
        res.writeHead(500, { "content-type": "application/json" });
        return res.end('{"error":{"message":"boom"}}');
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":10,"output_tokens":1}}}\n\n');
      const finish = () =>
        res.end('event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
      if (body.includes('"hold"')) held.push(finish);
      else finish();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

async function gateway(opts: { admit?: (s: string, c: CallRequest) => CallAdmission; baseUrl?: string; maxRequestBytes?: number } = {}) {
  const gw = new ModelGateway({
    redactor: new Redactor(),
    ...(opts.maxRequestBytes ? { maxRequestBytes: opts.maxRequestBytes } : {}),
  });
  await gw.start();
  const admit = opts.admit;
  // A token's scope: an upstream for every family (the tests speak all three), and `admit`.
  const mint = (sessionId: string) =>
    gw.mint(sessionId, {
      upstream: (family) => ({
        provider: "test",
        api: family === "google" ? "google-generative-ai" : family === "openai" ? "openai-responses" : "anthropic-messages",
        baseUrl: opts.baseUrl ?? upstreamUrl + "/base",
        auth: { header: "x-api-key", value: "sk-real" },
      }),
      ...(admit ? { admit: (c: CallRequest) => admit(sessionId, c) } : {}),
    });
  return Object.assign(gw, { mintScoped: mint });
}

/** A raw request: fetch and URL would normalise the very paths under test. */
function raw(gw: ModelGateway, method: string, target: string, token: string, body: string | Buffer = "", headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: gw.port, method, path: target, headers: { "x-api-key": token, "content-type": "application/json", ...headers } }, (res) => {
      let b = "";
      res.on("data", (d) => (b += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: b, headers: res.headers }));
    });
    req.on("error", reject);
    // A GET carries no framed body in Node's client: its bytes would read as a next request.
    req.end(method === "GET" ? undefined : body);
  });
}

/** A gateway scoped by a real SessionBudget, and a token of its session. */
async function scoped(budget: SessionBudget) {
  const settled: (CallUsage | undefined)[] = [];
  const gw = await gateway({ admit: scope(budget, "m", settled) });
  return { gw, settled, t: gw.mintScoped("ses_1") };
}

/** The manager's rule (sessions/admission.ts) for one pinned model and a real budget, recording each settlement. */
function scope(budget: SessionBudget, model = "m", settled: (CallUsage | undefined)[] = []) {
  return (_s: string, c: CallRequest): CallAdmission => {
    const a = admitCall({ models: [model], budget }, c, () => {});
    return a.ok ? { ...a, settle: (u) => (settled.push(u), a.settle(u)) } : a;
  };
}

describe("gateway scope", () => {
  it("never sends a traversal, an encoded path or a non-allowlisted endpoint upstream, nor reaches /_berth/ through a prefix", async () => {
    let internal = 0;
    const gw = new ModelGateway({
      redactor: new Redactor(),
      internal: async (_q, res) => {
        internal++;
        res.end("{}");
      },
    });
    await gw.start();
    const t = gw.mint("ses_1", { upstream: singleRoute({ provider: "test", api: "anthropic-messages", baseUrl: upstreamUrl + "/base" }) });
    seen = [];
    const attempts: [string, string, number, string][] = [
      ["POST", "/anthropic/../_berth/git/credential", 400, "path_not_canonical"],
      ["POST", "/anthropic/%2e%2e/_berth/git/credential", 400, "path_not_canonical"],
      ["POST", "/anthropic/v1/..%2f..%2f_berth/git/credential", 400, "path_not_canonical"],
      ["POST", "/anthropic/v1/messages/../../../etc", 400, "path_not_canonical"],
      ["POST", "/anthropic//v1/messages", 400, "path_not_canonical"],
      ["POST", "/anthropic\\..\\_berth/git/credential", 400, "path_not_canonical"],
      ["POST", "/anthropic/v1/messages/batches", 404, "route_not_allowed"],
      ["POST", "/anthropic/v1/files", 404, "route_not_allowed"],
      ["GET", "/anthropic/v1/models", 404, "route_not_allowed"],
      ["GET", "/anthropic/v1/messages", 405, "method_not_allowed"],
      ["POST", "/openai/v1/files", 404, "route_not_allowed"],
      ["POST", "/google/v1beta/files", 404, "route_not_allowed"],
      ["POST", "/anthropic/v1/messages?key=x", 400, "query_not_allowed"],
    ];
    for (const [method, target, status, c] of attempts) {
      const r = await raw(gw, method, target, t, "{}");
      expect([target, r.status, JSON.parse(r.body).error.code]).toEqual([target, status, c]);
      expect(r.body).not.toContain("sk-real");
    }
    expect(seen).toEqual([]);
    expect(internal).toBe(0);
    // The exact internal route still works.
    expect((await raw(gw, "POST", "/_berth/git/credential", t, "{}")).status).toBe(200);
    expect(internal).toBe(1);
    await gw.close();
  });

  it("builds the upstream URL under the provider's base path", async () => {
    const gw = await gateway();
    seen = [];
    const t = gw.mintScoped("ses_1");
    await raw(gw, "POST", "/google/v1beta/models/gemini-x:streamGenerateContent?alt=sse", t, "{}");
    await raw(gw, "POST", "/anthropic/v1/messages?beta=true", t, "{}");
    expect(seen.map((s) => s.url)).toEqual(["/base/v1beta/models/gemini-x:streamGenerateContent?alt=sse", "/base/v1/messages?beta=true"]);
    await gw.close();
  });

  it("pins the model: the body's for Anthropic and OpenAI, the path's for Gemini; a request naming none is refused", async () => {
    const gw = await gateway({ admit: scope(new SessionBudget({}), "m") });
    const t = gw.mintScoped("ses_1");
    seen = [];
    const refused = [
      ["/anthropic/v1/messages", JSON.stringify({ model: "claude-opus-4", max_tokens: 10 })],
      ["/openai/v1/responses", JSON.stringify({ model: "gpt-5" })],
      ["/openai/v1/chat/completions", JSON.stringify({ model: "M" })],
      ["/anthropic/v1/messages", JSON.stringify({ max_tokens: 10 })],
      ["/anthropic/v1/messages/count_tokens", JSON.stringify({ model: "other" })],
      ["/google/v1beta/models/gemini-pro:generateContent", JSON.stringify({ model: "m" })],
    ];
    for (const [path, body] of refused) {
      const r = await raw(gw, "POST", path!, t, body);
      expect([path, body, r.status, JSON.parse(r.body).error.code]).toEqual([path, body, 403, "model_not_allowed"]);
    }
    expect(seen).toEqual([]);
    expect((await raw(gw, "POST", "/anthropic/v1/messages", t, JSON.stringify({ model: "m", max_tokens: 10 }))).status).toBe(200);
    expect((await raw(gw, "POST", "/google/v1beta/models/m:generateContent", t, "{}")).status).toBe(200);
    expect(seen).toHaveLength(2);
    // A gzip body is read too (the model is checked after decoding) and forwarded as sent.
    const gz = zlib.gzipSync(JSON.stringify({ model: "other" }));
    expect((await raw(gw, "POST", "/anthropic/v1/messages", t, gz, { "content-encoding": "gzip" })).status).toBe(403);
    await gw.close();
  });

  it("refuses a body over the cap with 413, a decompression bomb included, and a body it cannot read with 4xx", async () => {
    const gw = await gateway({ maxRequestBytes: 1000 });
    const t = gw.mintScoped("ses_1");
    seen = [];
    const big = await raw(gw, "POST", "/anthropic/v1/messages", t, JSON.stringify({ model: "m", pad: "x".repeat(2000) }));
    expect([big.status, JSON.parse(big.body).error.code]).toEqual([413, "request_too_large"]);
    const bomb = zlib.gzipSync(JSON.stringify({ model: "m", pad: "x".repeat(200_000) }));
    expect(bomb.length).toBeLessThan(1000);
    const status = async (headers: Record<string, string>, body: Buffer | string) => (await raw(gw, "POST", "/anthropic/v1/messages", t, body, headers)).status;
    expect(await status({ "content-encoding": "gzip" }, bomb)).toBe(413);
    expect(await status({ "content-encoding": "zstd" }, "xx")).toBe(415);
    expect(await status({ "content-encoding": "gzip" }, "not gzip")).toBe(400);
    expect(await status({}, "not json")).toBe(400);
    expect(seen).toEqual([]);
    await gw.close();
  });

  it("reserves each call's maximum before dispatch: the race is refused with 429 Retry-After, and settles with the reported usage", async () => {
    const budget = new SessionBudget({ maxTokens: 3000 }, undefined, 8);
    const { gw, settled, t } = await scoped(budget);
    seen = [];
    const body = JSON.stringify({ model: "m", max_tokens: 1000, hold: true });
    let answered = 0;
    const pending = Array.from({ length: 40 }, () => raw(gw, "POST", "/anthropic/v1/messages", t, body).finally(() => answered++));
    // All 40 are in before any admitted one completes: the interleaving that overspent on main.
    while (held.length + answered < 40) await new Promise((r) => setTimeout(r, 5));
    while (held.length) held.shift()!();
    const results = await Promise.all(pending);
    const admitted = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(admitted.length + refused.length).toBe(40);
    // Each holds ~1000 output + its body size: at most 3 fit below 3000.
    expect(admitted.length).toBeGreaterThanOrEqual(1);
    expect(admitted.length).toBeLessThanOrEqual(3);
    expect(refused[0]!.headers["retry-after"]).toBe("1");
    expect(JSON.parse(refused[0]!.body).error.code).toBe("budget_reserved");
    expect(seen).toHaveLength(admitted.length);
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toEqual(admitted.map(() => ({ tokens: 15 })));
    expect(budget.inFlight).toBe(0);
    expect(budget.reserved.tokens).toBe(0);
    await gw.close();
  });

  it("always releases the reservation: upstream error, unreachable upstream, client abort", async () => {
    const budget = new SessionBudget({ maxTokens: 1e6 }, undefined, 1);
    const { gw, settled, t } = await scoped(budget);
    const failed = await raw(gw, "POST", "/anthropic/v1/messages", t, JSON.stringify({ model: "m", fail: true }));
    expect(failed.status).toBe(500);
    expect(budget.inFlight).toBe(0);

    // The client goes away while the answer is held open.
    held.length = 0;
    await new Promise<void>((resolve) => {
      const q = http.request({ host: "127.0.0.1", port: gw.port, method: "POST", path: "/anthropic/v1/messages", headers: { "x-api-key": t } }, (res) => {
        res.once("data", () => {
          q.destroy();
          resolve();
        });
      });
      q.on("error", () => {});
      q.end(JSON.stringify({ model: "m", hold: true }));
    });
    for (let i = 0; i < 100 && budget.inFlight; i++) await new Promise((r) => setTimeout(r, 10));
    expect(budget.inFlight).toBe(0);
    while (held.length) held.shift()!();
    await gw.close();

    const dead = await gateway({ admit: scope(budget, "m", settled), baseUrl: "http://127.0.0.1:1" });
    const t2 = dead.mintScoped("ses_1");
    const r = await raw(dead, "POST", "/anthropic/v1/messages", t2, JSON.stringify({ model: "m" }));
    expect([r.status, JSON.parse(r.body).error.code]).toEqual([502, "upstream_unreachable"]);
    expect(budget.inFlight).toBe(0);
    expect(budget.reserved.tokens).toBe(0);
    expect(settled).toHaveLength(3);
    // With the cap at 1 and nothing in flight, the next call is admitted.
    expect(budget.reserve({ tokens: 1, costUsd: 0 }).ok).toBe(true);
    await dead.close();
  });
});
