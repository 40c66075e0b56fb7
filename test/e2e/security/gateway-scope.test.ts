import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMockScript } from "../../../src/mock/index.js";
import { data, startReadySession, useMockedBerth } from "../harness-contract.js";
import { collect, turnEnded } from "../helpers.js";

// The model gateway scopes every call to its session (issue section 3). A real Pi in a real
// T1 sandbox runs a node script from its workspace that attacks the gateway with the
// session's own token (BERTH_GATEWAY_TOKEN, at BERTH_GATEWAY_URL): endpoints outside the
// allowlist, traversal towards /_berth/, another model, and 40 parallel calls against a
// token budget. The mock provider's own request log proves what reached the upstream.
const CANARY = "sk-ant-api03-CANARY" + "S".repeat(40);
const MODEL = "claude-mock";
// The issue's numbers: on main, 40 parallel calls against 3000 tokens spent 20,583.
const LIMIT = 3000;
const OUTPUT_CAP = 100;
/** ~1000 input tokens per call at the mock's four characters a token. */
const PAD = "x".repeat(4000);
const ATTACK_BODY = JSON.stringify({ model: MODEL, max_tokens: OUTPUT_CAP, messages: [{ role: "user", content: PAD }] });
/** The most one attack call may spend: the gateway reserves its request size plus its output cap. */
const ONE_CALL_MAX = Buffer.byteLength(ATTACK_BODY) + OUTPUT_CAP;

/** [method, raw path, expected status, expected code]. */
const PATHS: [string, string, number, string][] = [
  ["POST", "/anthropic/v1/messages/batches", 404, "route_not_allowed"],
  ["POST", "/anthropic/v1/files", 404, "route_not_allowed"],
  ["GET", "/anthropic/v1/files", 404, "route_not_allowed"],
  ["GET", "/anthropic/v1/models", 404, "route_not_allowed"],
  ["GET", "/anthropic/v1/messages", 405, "method_not_allowed"],
  ["POST", "/openai/v1/files", 404, "route_not_allowed"],
  ["POST", "/google/v1beta/cachedContents", 404, "route_not_allowed"],
  ["POST", "/anthropic/../_berth/git/credential", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1/../../_berth/git/credential", 400, "path_not_canonical"],
  ["POST", "/anthropic/%2e%2e/_berth/git/credential", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1/%2E%2E/%2E%2E/_berth/git/credential", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1/..%2f..%2f_berth%2fgit%2fcredential", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1%5c..%5c..%5c_berth/git/credential", 400, "path_not_canonical"],
  ["POST", "/anthropic\\..\\_berth\\git\\credential", 400, "path_not_canonical"],
  ["POST", "/anthropic/%252e%252e/_berth/git/credential", 400, "path_not_canonical"],
  ["POST", "/anthropic//v1/messages", 400, "path_not_canonical"],
  ["POST", "/anthropic/./v1/messages", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1/messages/.", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1/%6dessages", 400, "path_not_canonical"],
  ["POST", "/google/v1beta/models/..%2f..%2fv1beta%2ffiles:generateContent", 400, "path_not_canonical"],
  ["POST", "/anthropic/v1/messages?key=x", 400, "query_not_allowed"],
];

// Runs inside the sandbox as the agent (uid 1000), with node's own http client: it sends
// each path byte for byte (fetch would normalise the very paths under attack).
const ATTACK = `
import http from "node:http";
import { writeFileSync } from "node:fs";
const base = new URL(process.env.BERTH_GATEWAY_URL);
const token = process.env.BERTH_GATEWAY_TOKEN;
const send = (method, path, body) => new Promise((resolve) => {
  const data = method === "GET" ? undefined : Buffer.from(body);
  const headers = { "x-api-key": token, "content-type": "application/json", "anthropic-version": "2023-06-01" };
  if (data) headers["content-length"] = String(data.length);
  const req = http.request({ host: base.hostname, port: base.port, method, path, headers }, (res) => {
    let b = "";
    res.on("data", (d) => (b += d));
    res.on("end", () => {
      let error = {};
      try { error = JSON.parse(b).error ?? {}; } catch {}
      resolve({ status: res.statusCode, code: error.code, message: error.message, retryAfter: res.headers["retry-after"] });
    });
  });
  req.on("error", (e) => resolve({ status: 0, message: e.message }));
  req.end(data);
});
const body = ${JSON.stringify(ATTACK_BODY)};
const call = (model) => send("POST", "/anthropic/v1/messages", model ? body.replace(${JSON.stringify(`"model":"${MODEL}"`)}, JSON.stringify("model") + ":" + JSON.stringify(model)) : body);
const out = { paths: [], swap: [], race: [], drain: [] };
for (const [method, path] of ${JSON.stringify(PATHS.map(([m, p]) => [m, p]))}) out.paths.push(await send(method, path, body));
for (let i = 0; i < 31; i++) out.swap.push(await call(i % 2 ? "claude-opus-4-1" : "mock-1"));
out.race = await Promise.all(Array.from({ length: 40 }, () => call()));
// Then one call at a time until the budget refuses: the limit ends the session's spending.
for (let i = 0; i < 200; i++) {
  const r = await call();
  out.drain.push(r);
  if (r.status === 402) break;
  if (r.status === 429) await new Promise((ok) => setTimeout(ok, 200));
}
writeFileSync("out.json", JSON.stringify(out));
`;

const script = parseMockScript(`
steps:
  - text: "Attacking the gateway."
    tool: { name: bash, input: { command: "node attack.mjs > attack.log 2>&1; echo attack-finished" } }
  - text: "Done."
`);

const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: MODEL }) });

interface Answer {
  status: number;
  code?: string;
  message?: string;
  retryAfter?: string;
}

describe("the gateway scopes every call to its session (attacks from inside a T1 sandbox)", () => {
  it("refuses other endpoints, traversal, other models and the budget race; the provider sees only the session's allowed calls", async () => {
    const { berth, mock } = ctx;
    mock.requests.length = 0;
    const { s, ws } = await startReadySession(berth, "pi", { budget: { maxTokens: LIMIT } });
    writeFileSync(join(ws, "attack.mjs"), ATTACK);
    const turn = await berth.client.postTurn(s.id, "run the attack");
    const events = await collect(berth.client, s.id, turnEnded(turn.id), { timeoutMs: 240_000 });
    const out = JSON.parse(readFileSync(join(ws, "out.json"), "utf8")) as Record<"paths" | "swap" | "race" | "drain", Answer[]>;

    // (a) Every path outside the allowlist is refused with its code, before any upstream.
    expect(out.paths.map((r, i) => [PATHS[i]![0], PATHS[i]![1], r.status, r.code])).toEqual(PATHS);

    // The model swap: refused, naming the model the session may call.
    expect(out.swap).toHaveLength(31);
    for (const r of out.swap) {
      expect([r.status, r.code]).toEqual([403, "model_not_allowed"]);
      expect(r.message).toContain(MODEL);
    }

    // The race: all 40 were asked at once; only what the budget can hold was admitted, the
    // rest refused with 429 (Retry-After, budget held or concurrency cap) or 402.
    const admitted = out.race.filter((r) => r.status === 200);
    const refused = out.race.filter((r) => r.status !== 200);
    expect(admitted.length).toBeGreaterThan(0);
    expect(admitted.length).toBeLessThan(40);
    for (const r of refused) {
      expect([402, 429]).toContain(r.status);
      if (r.status === 429) expect(r.retryAfter).toBe("1");
    }
    // Spending ends at the limit with 402, and never more than one call's maximum past it.
    expect(out.drain.at(-1)).toMatchObject({ status: 402, code: "budget_exceeded" });
    const spent = (await berth.client.getSession(s.id)).budget!.spent.tokens;
    const count = (xs: Answer[]) => {
      const n = new Map<string, number>();
      for (const r of xs) n.set(`${r.status} ${r.code ?? "ok"}`, (n.get(`${r.status} ${r.code ?? "ok"}`) ?? 0) + 1);
      return [...n].map(([k, v]) => `${k} ×${v}`).join(", ");
    };
    console.log(`[gateway-scope] race of 40: ${count(out.race)}; drain: ${count(out.drain)}; spent ${spent} of ${LIMIT} tokens (one call's maximum ${ONE_CALL_MAX})`);
    expect(spent).toBeGreaterThanOrEqual(LIMIT);
    expect(spent).toBeLessThanOrEqual(LIMIT + ONE_CALL_MAX);
    expect(events.filter((e) => e.type === "session.error" && data(e).code === "budget_exceeded")).toHaveLength(1);

    // (b) What reached the provider: only POST /v1/messages naming the session's model, one
    // per model.call berth recorded (and charged); nothing else, no other model.
    const calls = events.filter((e) => e.type === "model.call");
    const upstream = mock.requests.map((r) => `${r.method} ${r.path} ${r.model}`);
    expect(new Set(upstream)).toEqual(new Set([`POST /v1/messages ${MODEL}`]));
    expect(mock.requests.every((r) => r.authOk === true)).toBe(true);
    expect(mock.requests).toHaveLength(calls.length);
    expect(calls.every((e) => data(e).model === MODEL && data(e).path === "/v1/messages")).toBe(true);
    const charged = calls.reduce((n, e) => n + (data(e).usage ? data(e).usage.inputTokens + data(e).usage.outputTokens : 0), 0);
    expect(charged).toBe(spent);
    // The git-credential endpoint was never reached through a provider prefix.
    expect(berth.log()).not.toMatch(/git credential/);
    await berth.client.endSession(s.id);
  }, 300_000);
});
