import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HARNESSES } from "../../../src/harnesses/registry.js";
import { API_TOKEN, collect, isReady, startBerth, type BerthProc } from "../helpers.js";
import { parseRaw, type RawResponse } from "./raw-http.js";

// A bounded, seeded fuzzer against a real `berth serve`: every route and method in
// /openapi.json (read at run time, so new routes are covered), plus the hidden ones and
// unknown paths, with malformed and hostile inputs. Replay a run with FUZZ_SEED=<seed>.
// It never starts harness sessions in bulk: the one real session is made below.

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 1500);

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
const HIDDEN = ["/health", "/ready", "/metrics", "/openapi.json"];
const VALID_HARNESSES = new Set(HARNESSES.map((h) => h.id));

const STRINGS = (r: Rng): string[] => [
  "",
  " ",
  "a",
  "pi",
  "../../../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e/%2e%2e",
  "/etc/shadow",
  "C:\\Windows\\system32",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "😀".repeat(50),
  "\u202e\u200b\ufeff",
  "𝕏".repeat(1000),
  "x".repeat(10_000 + r.int(100_000)),
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "$(id)",
  "`id`",
  "\r\nX-Injected: 1",
  "-1",
  "1e308",
  "NaN",
  "__proto__",
  "constructor",
  API_TOKEN,
];
const NUMBERS = [0, -1, 1, 1.5, -0, 1e308, -1e308, 2 ** 53 + 2, 2 ** 31, 2 ** 63, 100, 1e-300];

function value(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 4 : 7)) {
    case 0:
      return r.pick(STRINGS(r));
    case 1:
      return r.pick(NUMBERS);
    case 2:
      return r.pick([true, false, null]);
    case 3:
      return r.pick(["allow", "deny", "ask", "t0", "t4", "host", "process", "container", "privileged", "host-access"]);
    case 4:
      return Array.from({ length: r.int(5) }, () => value(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) o[r.pick(FIELDS)] = value(r, depth + 1);
      return o;
    }
  }
}
const FIELDS = [
  "harness", "model", "tier", "workspace", "systemPrompt", "mcpServers", "permissionPolicy", "permissionTimeoutMs", "metadata", "writablePaths",
  "provider", "secrets", "network", "allow", "allowPrivateAddresses", "git", "hosts", "budget", "maxTokens", "maxCostUsd", "prompt",
  "idempotencyKey", "optionId", "decision", "type", "text", "name", "command", "args", "env", "__proto__", "constructor", "prototype", "",
];

/** A body: mostly JSON objects shaped like the API's, often broken. */
function body(r: Rng): string | undefined {
  switch (r.int(12)) {
    case 0:
      return undefined;
    case 1:
      return "";
    case 2:
      return r.pick(["{", "}", "[", "{\"a\":", "{'a':1}", "nul", "tru", "{\"a\":1,}", "\u0000", "{\"a\":\"\\ud800\"}", "{\"harness\":\"x\"} trailing", "\ufeff{}"]);
    case 3:
      return "[".repeat(2000 + r.int(8000)) + "]".repeat(r.int(2) ? 2000 : 0);
    case 4:
      return JSON.stringify(value(r));
    case 5:
      return '{"__proto__":{"polluted":true},"harness":"x"}';
    case 6:
      return JSON.stringify({ prompt: value(r), idempotencyKey: value(r) });
    case 7:
      return JSON.stringify({ decision: r.pick(["allow", "deny", "maybe", 1]), optionId: value(r) });
    default: {
      const o: Record<string, unknown> = { harness: r.chance(0.7) ? r.pick(["nope", "PI", "pi ", "../pi", "claude\u0000"]) : value(r) };
      for (let i = r.int(6); i > 0; i--) o[r.pick(FIELDS)] = value(r);
      return JSON.stringify(o);
    }
  }
}

/** Never lets a fuzzed POST /v1/sessions start a real harness: any valid harness becomes an unknown one. */
function defang(path: string, method: string, b: string | undefined): string | undefined {
  if (method !== "POST" || !/^\/v1\/sessions\/?(\?|$)/.test(path) || b === undefined) return b;
  try {
    const o = JSON.parse(b);
    if (o && typeof o === "object" && VALID_HARNESSES.has(o.harness)) return b.replace(/"harness"\s*:\s*"[^"]*"/g, '"harness":"fuzz-nope"');
  } catch {
    /* not JSON: harmless */
  }
  return b;
}

function id(r: Rng, real: string): string {
  return r.pick([
    real,
    real,
    "ses_nope",
    "..",
    "../..",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2f..%2fetc",
    "%00",
    "a%00b",
    "%ZZ",
    "%",
    encodeURIComponent("😀"),
    "%F0%9F",
    "x".repeat(101),
    "x".repeat(5000),
    `${real}%2f..`,
    `${real}/..`,
    encodeURIComponent(API_TOKEN),
    "ses_" + "0".repeat(r.int(40)),
  ]);
}

function headers(r: Rng, b: string | undefined): string[] {
  const h: string[] = [];
  const auth = r.int(10);
  if (auth < 6) h.push(`Authorization: Bearer ${API_TOKEN}`);
  else if (auth === 6) h.push(`Authorization: ${r.pick(["Bearer", "Bearer ", "bearer " + API_TOKEN, "Basic " + Buffer.from(`x:${API_TOKEN}`).toString("base64"), `Bearer ${API_TOKEN}x`, `Bearer ${API_TOKEN.slice(1)}`, "Bearer " + "a".repeat(8000), `Bearer ${API_TOKEN}, Bearer x`])}`);
  else if (auth === 7) h.push(`Authorization: Bearer ${API_TOKEN}`, "Authorization: Bearer wrong");
  if (b !== undefined || r.chance(0.2))
    h.push(
      `Content-Type: ${r.pick(["application/json", "application/json", "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "", "application/json; charset=latin1", "APPLICATION/JSON", "application/json, text/html", "*/*", "application/jsonx"])}`,
    );
  if (r.chance(0.3)) h.push(`Accept: ${r.pick(["application/json", "text/event-stream", "*/*", "text/html", "application/json, text/event-stream", ""])}`);
  if (r.chance(0.15)) h.push(`Last-Event-ID: ${r.pick(["0", "1", "-1", "1e308", "9007199254740993", "9007199254740991", "abc", "", "0x10", "1".repeat(100)])}`);
  if (r.chance(0.1)) h.push(`Idempotency-Key: ${r.pick(["k", "", "x".repeat(5000), "😀", API_TOKEN])}`);
  if (r.chance(0.1)) h.push(`traceparent: ${r.pick(["00-" + "0".repeat(32) + "-" + "0".repeat(16) + "-01", "garbage", "ff-" + "f".repeat(55)])}`);
  if (r.chance(0.05)) h.push(`X-Forwarded-For: 1.2.3.4`, `X-Forwarded-Host: attacker.example`);
  if (r.chance(0.05)) h.push(`Expect: 100-continue`);
  return h;
}

function query(r: Rng): string {
  if (r.chance(0.7)) return "";
  const kv = () => `${r.pick(["after", "limit", "x", "after[]", "__proto__", "after"])}=${encodeURIComponent(String(r.pick([...NUMBERS, "", "abc", "1e308", "9007199254740993", "-3", "%", "😀"])))}`;
  return "?" + Array.from({ length: 1 + r.int(3) }, kv).join("&") + (r.chance(0.1) ? "&%ZZ" : "");
}

/** Sends one request as is; resolves with the response (an event stream after its first bytes). */
function send(url: string, request: Buffer): Promise<RawResponse & { hung?: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (hung = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ ...parseRaw(Buffer.concat(chunks).toString("latin1")), ...(hung ? { hung } : {}) });
    };
    const timer = setTimeout(() => finish(true), 20_000);
    s.on("connect", () => s.write(request));
    s.on("data", (d) => {
      chunks.push(d);
      // The final response's head (after any 100 Continue): an event stream never ends by itself.
      const heads = Buffer.concat(chunks).toString("latin1").split("\r\n\r\n");
      const final = heads.find((h) => !/^HTTP\/1\.[01] 1\d\d /.test(h));
      if (final !== undefined && heads.length > heads.indexOf(final) + 1 && /content-type: text\/event-stream/i.test(final)) finish();
    });
    s.on("error", () => undefined);
    s.on("close", () => finish());
  });
}

let berth: BerthProc;
let realId: string;
beforeAll(async () => {
  berth = await startBerth();
  // The one real session the fuzzer may touch (turns on it run against berth's mock model).
  realId = (await berth.client.createSession({ harness: "pi" })).id;
  await collect(berth.client, realId, isReady);
});
afterAll(async () => berth?.stop());

describe("API fuzzer", () => {
  it(`${REQUESTS} hostile requests across every route: no 5xx, every error in the documented shape, no secret echoed`, async () => {
    console.log(`api-fuzz: FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS}`);
    const spec = (await (await fetch(`${berth.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes: [string, string][] = [];
    for (const [path, ops] of Object.entries(spec.paths)) for (const m of Object.keys(ops)) routes.push([m.toUpperCase(), path]);
    for (const p of HIDDEN) routes.push(["GET", p]);
    expect(routes.length).toBeGreaterThan(10);

    const r = prng(SEED);
    const host = new URL(berth.url).host;
    const perRoute = new Map<string, number>();
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let created = 0;
    for (let i = 0; i < REQUESTS; i++) {
      // Mostly the spec's routes with their own method; some with any method; some unknown paths.
      const kind = r.int(10);
      const [specMethod, template] = kind < 8 ? r.pick(routes) : ["", r.pick(["/", "/v1", "/v1/", "/v2/sessions", "/v1/sessions/x/y/z", "/%2e%2e/%2e%2e/etc/passwd", "/v1/../health", "//v1/sessions", "/v1/sessions?", "/.env", "/v1/sessions%00"])];
      const method = kind < 7 && specMethod ? specMethod : r.pick(METHODS);
      const path = template.replace(/\{id\}/g, () => id(r, realId)).replace(/\{permissionId\}/g, () => id(r, "perm_x")) + query(r);
      let b = method === "GET" || method === "HEAD" ? (r.chance(0.1) ? body(r) : undefined) : body(r);
      // Over the 4 MiB body limit: declared, with only its start sent. (Sending all of it races
      // the server's early answer and close against a TCP reset, on any server.)
      const oversize = r.chance(0.02);
      if (oversize) b = JSON.stringify({ harness: "x".repeat(64 * 1024) });
      b = defang(path, method, b);
      const hostHeader = r.chance(0.95) ? `Host: ${host}` : r.pick(["Host: attacker.example", "Host: ", `Host: ${host}\r\nHost: attacker.example`]);
      const head = [`${method} ${path} HTTP/1.1`, hostHeader, ...headers(r, b), "Connection: close"];
      if (oversize) head.push(`Content-Length: ${5 * 1024 * 1024}`);
      else if (b !== undefined && !r.chance(0.03)) head.push(`Content-Length: ${Buffer.byteLength(b)}`);
      const request = Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n"), Buffer.from(b ?? "")]);

      const res = await send(berth.url, request);
      const route = kind < 8 ? `${method} ${template}` : `${method} (unknown path)`;
      perRoute.set(route, (perRoute.get(route) ?? 0) + 1);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (method === "POST" && template === "/v1/sessions" && res.status === 201) created++;
      const fail = (why: string) =>
        failures.push(`#${i} ${method} ${path.slice(0, 120)} → ${res.status}: ${why}\n  sent: ${JSON.stringify(request.subarray(0, 400).toString("latin1"))}\n  got: ${JSON.stringify(res.raw.slice(0, 300))}`);
      if (res.hung) fail("no response in 20 s");
      else if (res.status === 0) fail("no HTTP response");
      else if (res.status >= 500) fail("5xx");
      if (res.raw.includes(API_TOKEN)) fail("echoed the API token");
      if (/at .*\.(ts|js):\d+:\d+/.test(res.raw)) fail("stack trace");
      if (res.status >= 400 && method !== "HEAD") {
        try {
          const e = JSON.parse(res.body);
          if (Object.keys(e).join() !== "error" || typeof e.error.code !== "string" || !/^[a-z][a-z0-9_]*$/.test(e.error.code) || typeof e.error.message !== "string" || !e.error.message)
            fail("error body not in the documented shape");
        } catch {
          fail("error body is not JSON");
        }
      }
    }

    console.log(`api-fuzz: ${REQUESTS} requests; by status: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}=${n}`).join(" ")}`);
    console.log(`api-fuzz: by route:\n${[...perRoute].sort().map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`).join("\n")}`);
    expect(failures.slice(0, 30), `replay with FUZZ_SEED=${SEED}`).toEqual([]);
    expect(created).toBe(0);
    // Every spec route was hit.
    for (const [m, p] of routes) expect(perRoute.get(`${m} ${p}`) ?? 0, `${m} ${p}`).toBeGreaterThan(0);

    // Healthy after, and nothing but the one real session exists.
    expect((await fetch(`${berth.url}/health`)).status).toBe(200);
    expect((await berth.client.listSessions()).map((s) => s.id)).toEqual([realId]);
    await berth.client.endSession(realId);
    expect(berth.log()).not.toContain(API_TOKEN);
  });
});
