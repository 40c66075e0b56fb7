import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelGateway, singleRoute, type CallAdmission, type CallRequest, type ModelCallRecord } from "../../src/gateway/gateway.js";
import { Redactor } from "../../src/secrets/redact.js";
import { createMetrics } from "../../src/telemetry/metrics.js";

// A local upstream that records what reached it and streams its answer in timed chunks.
const REAL_KEY = "sk-ant-api03-REALKEY" + "k".repeat(30);
let upstream: http.Server;
let upstreamUrl: string;
let seen: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
let release: () => void = () => {};

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ url: req.url!, headers: req.headers, body });
      if (body.includes('"fail"')) {
        res.writeHead(529, { "content-type": "application/json" });
        return res.end(JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: one\ndata: 1\n\n");
      // The rest is sent only once the client has the first chunk: a buffering gateway deadlocks.
      release = () => res.end("event: two\ndata: 2\n\n");
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

async function gateway(extra: Partial<ConstructorParameters<typeof ModelGateway>[0]> & { admit?: (sessionId: string, call: CallRequest) => CallAdmission } = {}) {
  const redactor = new Redactor();
  const calls: ModelCallRecord[] = [];
  const { admit, ...opts } = extra;
  const gw = new ModelGateway({ ...opts, redactor });
  await gw.start();
  // Each session's token registers its scope: one Anthropic route, its calls recorded here.
  const mint = (sessionId: string) =>
    gw.mint(sessionId, {
      upstream: singleRoute({ provider: "test", api: "anthropic-messages", baseUrl: upstreamUrl + "/base", auth: { header: "x-api-key", value: REAL_KEY } }),
      ...(admit ? { admit: (c: CallRequest) => admit(sessionId, c) } : {}),
      onCall: (c) => calls.push(c),
    });
  return { gw, calls, redactor, mint };
}

describe("ModelGateway", () => {
  it("refuses a session's call with the scope's refusal (402 budget_exceeded) before it reaches the upstream", async () => {
    const spent = new Set(["ses_spent"]);
    const metrics = createMetrics({ processMetrics: false });
    const { gw, calls, mint } = await gateway({
      admit: (s) => (spent.has(s) ? { ok: false, status: 402, code: "budget_exceeded", message: "the session's token budget is spent" } : { ok: true, settle() {} }),
      metrics,
    });
    seen = [];
    const call = (token: string) =>
      fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers: { "x-api-key": token }, body: '{"fail":true}' });
    const refused = await call(mint("ses_spent"));
    expect(refused.status).toBe(402);
    expect(await refused.json()).toEqual({ type: "error", error: { type: "budget_exceeded", code: "budget_exceeded", message: "the session's token budget is spent" } });
    expect(seen).toEqual([]);
    expect(calls).toEqual([]);
    expect((await metrics.render()).body).toContain('berth_model_calls_total{provider="test",status="402"} 1');
    // Another session is not affected.
    expect((await call(mint("ses_other"))).status).toBe(529);
    expect(seen).toHaveLength(1);
    await gw.close();
  });

  it("swaps the session token for the real key and streams without buffering", async () => {
    const { gw, calls, mint } = await gateway();
    seen = [];
    const token = mint("ses_1");
    const res = await fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages?beta=true`, {
      method: "POST",
      headers: { "x-api-key": token, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "m", messages: [] }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("event: one");
    release();
    let rest = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain("event: two");
    expect(seen[0]!.url).toBe("/base/v1/messages?beta=true");
    expect(seen[0]!.headers["x-api-key"]).toBe(REAL_KEY);
    expect(JSON.stringify(seen[0]!.headers)).not.toContain(token);
    expect(seen[0]!.headers["anthropic-version"]).toBe("2023-06-01");
    expect(JSON.parse(seen[0]!.body)).toEqual({ model: "m", messages: [] });
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([expect.objectContaining({ sessionId: "ses_1", provider: "test", status: 200, path: "/base/v1/messages" })]);
    await gw.close();
  });

  it("accepts the token as a bearer too, and refuses wrong, revoked and expired tokens with 401", async () => {
    const { gw, mint } = await gateway();
    const post = (headers: Record<string, string>) => fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers, body: "{}" });
    const token = mint("ses_2");
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await post({ "x-api-key": "bgt_nope" })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    gw.revoke("ses_2");
    const r = await post({ "x-api-key": token });
    expect(r.status).toBe(401);
    expect(await r.text()).not.toContain(token);
    await gw.close();

    const short = new ModelGateway({ redactor: new Redactor(), tokenTtlMs: 1 });
    await short.start();
    const t2 = short.mint("ses_3", { upstream: singleRoute({ provider: "t", api: "anthropic-messages", baseUrl: upstreamUrl }) });
    await new Promise((r2) => setTimeout(r2, 10));
    expect((await fetch(`${short.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers: { "x-api-key": t2 }, body: "{}" })).status).toBe(401);
    await short.close();
  });

  it("passes upstream errors through with status and body, and names a missing upstream", async () => {
    const { gw, calls, mint } = await gateway();
    const token = mint("ses_4");
    const res = await fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers: { "x-api-key": token }, body: '{"fail":true}' });
    expect(res.status).toBe(529);
    expect(((await res.json()) as any).error.message).toBe("Overloaded");
    const none = await fetch(`${gw.baseUrl("openai-responses")}/v1/responses`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });
    expect(none.status).toBe(502);
    expect(((await none.json()) as any).error.message).toContain("does not speak the openai API family");
    await new Promise((r) => setTimeout(r, 20));
    expect(calls[0]).toMatchObject({ status: 529, error: "Overloaded" });
    await gw.close();
  });

  it("routes each token by the scope registered when its session's first token was minted, and forgets it on revoke", async () => {
    const gw = new ModelGateway({ redactor: new Redactor() });
    await gw.start();
    const got: string[] = [];
    const scope = (sessionId: string, base: string) => ({
      upstream: singleRoute({ provider: sessionId, api: "anthropic-messages" as const, baseUrl: upstreamUrl + base }),
      onCall: (c: ModelCallRecord) => got.push(`${c.sessionId}:${c.provider}:${c.path}`),
    });
    expect(() => gw.mint("ses_a")).toThrow("session ses_a has no gateway scope");
    const a = gw.mint("ses_a", scope("ses_a", "/a"));
    const b = gw.mint("ses_b", scope("ses_b", "/b"));
    const a2 = gw.mint("ses_a"); // another token, the same scope
    const call = (t: string) => fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers: { "x-api-key": t }, body: '{"fail":true}' });
    for (const t of [a, b, a2]) expect((await call(t)).status).toBe(529);
    expect(got).toEqual(["ses_a:ses_a:/a/v1/messages", "ses_b:ses_b:/b/v1/messages", "ses_a:ses_a:/a/v1/messages"]);
    gw.revoke("ses_a");
    expect((await call(a2)).status).toBe(401);
    expect(() => gw.mint("ses_a")).toThrow("no gateway scope");
    expect((await call(b)).status).toBe(529);
    await gw.close();
  });

  it("refuses a pooled (unbound) token with 401, also on /_berth/, until a claim binds it to a session's scope", async () => {
    const internal: string[] = [];
    const { gw, calls } = await gateway({ internal: async (_req, res, sessionId) => void (internal.push(sessionId), res.end("ok")) });
    seen = [];
    const token = gw.mintUnbound("pool_1");
    const call = () => fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers: { "x-api-key": token }, body: '{"fail":true}' });
    expect((await call()).status).toBe(401);
    expect((await fetch(`${gw.url}/_berth/git/credential`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    expect(seen).toEqual([]);
    gw.bind("pool_1", "ses_claimed", {
      upstream: singleRoute({ provider: "test", api: "anthropic-messages", baseUrl: upstreamUrl + "/base", auth: { header: "x-api-key", value: REAL_KEY } }),
      onCall: (c) => calls.push(c),
    });
    expect((await call()).status).toBe(529);
    expect(seen[0]!.headers["x-api-key"]).toBe(REAL_KEY);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls.map((c) => c.sessionId)).toEqual(["ses_claimed"]);
    await fetch(`${gw.url}/_berth/git/credential`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(internal).toEqual(["ses_claimed"]);
    // The pool's name is no longer anything: revoking it leaves the session's token working; revoking the session ends it.
    gw.revoke("pool_1");
    expect((await call()).status).toBe(529);
    gw.revoke("ses_claimed");
    expect((await call()).status).toBe(401);
    await gw.close();
  });

  it("minted tokens never pass the redactor, live or revoked", async () => {
    const { gw, redactor, mint } = await gateway();
    const token = mint("ses_5");
    expect(redactor.redact(`x ${token} y`)).toBe("x [REDACTED] y");
    gw.revoke("ses_5");
    // Forgotten as a live value, still caught by its shape (bgt_...).
    expect(redactor.redact(`x ${token} y`)).toBe("x [REDACTED] y");
    await gw.close();
  });
});

describe("berth's environment", () => {
  it("the default model: the mock without a provider key, else the first family with one; BERTH_MODEL wins", async () => {
    const { defaultModelFromEnv } = await import("../../src/gateway/default-model.js");
    expect(defaultModelFromEnv({})).toEqual({ defaultModel: "mock-1", useMock: true });
    expect(defaultModelFromEnv({ CLAUDE_CODE_OAUTH_TOKEN: "t" })).toEqual({ defaultModel: "claude-sonnet-4-5", useMock: false });
    expect(defaultModelFromEnv({ OPENAI_API_KEY_FILE: "/run/secrets/openai" })).toEqual({ defaultModel: "gpt-5", useMock: false });
    expect(defaultModelFromEnv({ GEMINI_API_KEY: "g" }).defaultModel).toBe("gemini-2.5-pro");
    expect(defaultModelFromEnv({ ANTHROPIC_API_KEY: "k" }, "glm-4.6").defaultModel).toBe("glm-4.6");
  });

  it("the gateway adds the oauth beta to the harness's own beta flags", async () => {
    seen = [];
    const gw = new ModelGateway({ redactor: new Redactor() });
    await gw.start();
    const t = gw.mint("s", {
      upstream: singleRoute({ provider: "o", api: "anthropic-messages", baseUrl: upstreamUrl, auth: { header: "authorization", value: "Bearer oat" }, headers: { "anthropic-beta": "oauth-2025-04-20" } }),
    });
    const res = await fetch(`${gw.baseUrl("anthropic-messages")}/v1/messages`, { method: "POST", headers: { "x-api-key": t, "anthropic-beta": "claude-code-20250219" }, body: "{}" });
    release();
    await res.text();
    expect(seen[0]!.headers["anthropic-beta"]).toBe("claude-code-20250219,oauth-2025-04-20");
    expect(seen[0]!.headers.authorization).toBe("Bearer oat");
    expect(seen[0]!.headers["x-api-key"]).toBeUndefined();
    await gw.close();
  });
});
