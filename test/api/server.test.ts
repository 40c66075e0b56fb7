import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../../src/api/server.js";
import { startServer, type BerthServer } from "../../src/app.js";
import type { EventLog } from "../../src/events/log.js";
import type { HarnessInstaller } from "../../src/harnesses/installer.js";
import type { SessionManager } from "../../src/sessions/manager.js";
import { redactor } from "../../src/secrets/redact.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { session } from "../store/contract.js";

// The API surface without running a harness: auth, validation, error shapes, OpenAPI.
let server: BerthServer;
const TOKEN = "brt_unit_" + "a".repeat(32);

beforeAll(async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-api-"));
  server = await startServer({
    config: { port: 0, home, maxSessionTokens: 1_000_000 },
    env: { BERTH_TOKEN: TOKEN, PATH: process.env.PATH },
    logger: createLogger(redactor, { level: "silent" }),
  });
});
afterAll(async () => server?.close());

const call = (method: string, url: string, opts: { body?: string; token?: string | null; headers?: Record<string, string> } = {}) =>
  server.api.inject({
    method: method as any,
    url,
    headers: {
      ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? TOKEN}` }),
      ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      ...opts.headers,
    },
    payload: opts.body,
  });

function expectError(res: { statusCode: number; body: string }, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  const body = JSON.parse(res.body);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(5);
  expect(res.body).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
}

describe("auth", () => {
  it("needs the bearer token on /v1 and nowhere else", async () => {
    expectError(await call("GET", "/v1/sessions", { token: null }), 401, "unauthorized");
    expectError(await call("GET", "/v1/sessions", { token: "brt_wrong" }), 401, "unauthorized");
    expectError(await call("GET", "/v1/sessions", { token: "" }), 401, "unauthorized");
    expectError(await call("GET", "/v1/sessions", { headers: { authorization: "Bearer    " } }), 401, "unauthorized");
    expect((await call("GET", "/v1/sessions")).statusCode).toBe(200);
    expect((await call("GET", "/health", { token: null })).statusCode).toBe(200);
    const ready = await call("GET", "/ready", { token: null });
    expect(ready.statusCode).toBe(200);
    expect(JSON.parse(ready.body).status).toBe("ready");
  });

  it("never echoes the token", async () => {
    const res = await call("POST", "/v1/sessions", { body: JSON.stringify({ harness: TOKEN }) });
    expectError(res, 400, "unknown_harness");
    expect(res.body).not.toContain(TOKEN);
  });
});

describe("validation", () => {
  const bad: [string, string, number, string][] = [
    ["malformed JSON", "{not json", 400, "invalid_json"],
    ["missing harness", "{}", 400, "invalid_request"],
    ["unknown field", JSON.stringify({ harness: "pi", bogus: 1 }), 400, "invalid_request"],
    ["wrong type", JSON.stringify({ harness: "pi", permissionPolicy: "sometimes" }), 400, "invalid_request"],
    ["unknown harness", JSON.stringify({ harness: "nope" }), 400, "unknown_harness"],
    ["unknown tier", JSON.stringify({ harness: "pi", tier: "t9" }), 400, "invalid_tier"],
    ["host tier not enabled", JSON.stringify({ harness: "pi", tier: "t0" }), 403, "tier_not_allowed"],
    ["relative workspace", JSON.stringify({ harness: "pi", workspace: "rel/dir" }), 400, "invalid_workspace"],
    ["bad egress entry", JSON.stringify({ harness: "pi", network: { allow: ["https://example.com/x"] } }), 400, "invalid_network_policy"],
    ["workspace outside the operator's roots", JSON.stringify({ harness: "pi", workspace: "/does/not/exist" }), 400, "workspace_not_allowed"],
    ["ask policy for a harness that never asks", JSON.stringify({ harness: "pi", permissionPolicy: "ask" }), 400, "permission_policy_unsupported"],
    ["deny policy for a harness that never asks", JSON.stringify({ harness: "codex", permissionPolicy: "deny" }), 400, "permission_policy_unsupported"],
    ["budget of zero tokens", JSON.stringify({ harness: "pi", budget: { maxTokens: 0 } }), 400, "invalid_request"],
    ["budget above the server's ceiling", JSON.stringify({ harness: "pi", budget: { maxTokens: 2_000_000 } }), 400, "budget_over_limit"],
  ];
  for (const [name, body, status, code] of bad) {
    it(`create session: ${name} → ${status} ${code}, nothing stored`, async () => {
      const before = JSON.parse((await call("GET", "/v1/sessions")).body).sessions.length;
      expectError(await call("POST", "/v1/sessions", { body }), status, code);
      expect(JSON.parse((await call("GET", "/v1/sessions")).body).sessions.length).toBe(before);
    });
  }

  it("unknown ids are 404s with codes", async () => {
    expectError(await call("GET", "/v1/sessions/ses_nope"), 404, "session_not_found");
    expectError(await call("DELETE", "/v1/sessions/ses_nope"), 404, "session_not_found");
    expectError(await call("POST", "/v1/sessions/ses_nope/turns", { body: JSON.stringify({ prompt: "hi" }) }), 404, "session_not_found");
    expectError(await call("GET", "/v1/sessions/ses_nope/events", { headers: { accept: "application/json" } }), 404, "session_not_found");
    expectError(await call("POST", "/v1/sessions/ses_nope/cancel"), 404, "session_not_found");
    // Resume takes an optional body: none at all is fine (the id is what is wrong here).
    expectError(await call("POST", "/v1/sessions/ses_nope/resume"), 404, "session_not_found");
    expectError(await call("GET", "/v1/nothing"), 404, "not_found");
  });

  it("turn and permission bodies are validated", async () => {
    expectError(await call("POST", "/v1/sessions/ses_x/turns", { body: JSON.stringify({ prompt: "" }) }), 400, "invalid_request");
    expectError(await call("POST", "/v1/sessions/ses_x/turns", { body: JSON.stringify({}) }), 400, "invalid_request");
    expectError(
      await call("POST", "/v1/sessions/ses_x/permissions/perm_y", { body: JSON.stringify({ optionId: "a", decision: "allow" }) }),
      400,
      "invalid_request",
    );
    expectError(await call("GET", "/v1/sessions/ses_x/events?after=-3", { headers: { accept: "application/json" } }), 400, "invalid_last_event_id");
  });
});

describe("openapi", () => {
  it("is generated from the request schemas", async () => {
    const res = await call("GET", "/openapi.json", { token: null });
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body);
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ["/v1/sessions", "/v1/sessions/{id}", "/v1/sessions/{id}/turns", "/v1/sessions/{id}/events", "/v1/sessions/{id}/cancel", "/v1/sessions/{id}/permissions/{permissionId}", "/v1/harnesses"])
      expect(doc.paths[p], p).toBeDefined();
    expect(doc.paths["/v1/sessions"].post.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/CreateSessionRequest" });
    const create = doc.components.schemas.CreateSessionRequest;
    expect(create.required).toContain("harness");
    expect(create.properties.permissionPolicy.enum).toEqual(["allow", "deny", "ask"]);
    // Named components, operation ids, the events route's two media types and the headers routes read.
    for (const name of ["Session", "Turn", "Event", "EventPage", "Error", "Harness", "MessageDeltaEvent", "SessionErrorEvent"]) expect(doc.components.schemas[name], name).toBeDefined();
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain("session_not_found");
    expect(doc.components.schemas.Event.discriminator.propertyName).toBe("type");
    const events = doc.paths["/v1/sessions/{id}/events"].get;
    expect(events.operationId).toBe("getEvents");
    expect(Object.keys(events.responses["200"].content).sort()).toEqual(["application/json", "text/event-stream"]);
    expect(events.parameters.map((p: { name: string }) => p.name)).toContain("Last-Event-ID");
    const turns = doc.paths["/v1/sessions/{id}/turns"].post;
    expect(turns.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["Idempotency-Key", "traceparent"]));
    expect(Object.keys(turns.responses)).toEqual(expect.arrayContaining(["202", "401", "404", "409"]));
  });

  it("lists harnesses with license posture", async () => {
    const res = JSON.parse((await call("GET", "/v1/harnesses")).body);
    const pi = res.harnesses.find((h: any) => h.id === "pi");
    expect(pi).toMatchObject({ license: "MIT", redistributable: true, api: "anthropic-messages" });
    expect(pi.packages.every((p: any) => /^\d+\.\d+\.\d+$/.test(p.version))).toBe(true);
  });
});

describe("root", () => {
  it("a harness that refuses root is refused on the host tier when berth is root", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-api-root-"));
    const s = await startServer({
      config: { port: 0, home, allowHostTier: true },
      env: { BERTH_TOKEN: TOKEN, PATH: process.env.PATH },
      logger: createLogger(redactor, { level: "silent" }),
    });
    try {
      const res = await s.api.inject({
        method: "POST",
        url: "/v1/sessions",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        payload: JSON.stringify({ harness: "claude", tier: "host" }),
      });
      if (process.getuid?.() === 0) expectError(res, 400, "harness_refuses_root");
      else expect(res.statusCode).not.toBe(400);
    } finally {
      await s.close();
    }
  });
});

describe("error shape for the framework's own errors", () => {
  const cases: [string, () => ReturnType<typeof call>, number, string][] = [
    ["a bad percent-encoding", () => call("GET", "/v1/sessions/%ZZ"), 400, "invalid_url"],
    ["an over-long path parameter", () => call("GET", `/v1/sessions/${"a".repeat(500)}`), 414, "uri_too_long"],
    ["an unknown route", () => call("GET", "/v2/nothing"), 404, "not_found"],
    ["an unknown method", () => call("PATCH", "/v1/sessions"), 404, "not_found"],
    ["a body over 4 MiB", () => call("POST", "/v1/sessions", { body: JSON.stringify({ harness: "x".repeat(5 * 1024 * 1024) }) }), 413, "body_too_large"],
    ["an unsupported content type", () => call("POST", "/v1/sessions", { body: "<harness/>", headers: { "content-type": "application/xml" } }), 415, "unsupported_media_type"],
    ["malformed JSON", () => call("POST", "/v1/sessions", { body: '{"harness":' }), 400, "invalid_json"],
    ["a __proto__ key", () => call("POST", "/v1/sessions", { body: '{"harness":"pi","__proto__":{"x":1}}' }), 400, "invalid_json"],
    ["an empty body where one is needed", () => call("POST", "/v1/sessions", { body: "" }), 400, "invalid_request"],
  ];
  for (const [name, send, status, code] of cases) it(`${name} → ${status} ${code}`, async () => expectError(await send(), status, code));

  it("routes without a body accept Content-Type: application/json with an empty body", async () => {
    for (const [method, url] of [
      ["DELETE", "/v1/sessions/ses_none"],
      ["POST", "/v1/sessions/ses_none/cancel"],
      ["POST", "/v1/sessions/ses_none/resume"],
    ] as const)
      expectError(await call(method, url, { body: "" }), 404, "session_not_found");
  });

  it("Last-Event-ID and ?after= take digits up to 2^53-1 only", async () => {
    const s = JSON.parse((await call("GET", "/v1/sessions")).body);
    expect(s.sessions).toBeDefined();
    for (const bad of ["9007199254740993", "1e308", "0x10", "-1", "1.5", " 1", "Infinity", "NaN", "1".repeat(400)]) {
      expectError(await call("GET", "/v1/sessions/ses_none/events", { headers: { accept: "application/json", "last-event-id": bad } }), 400, "invalid_last_event_id");
      expectError(await call("GET", `/v1/sessions/ses_none/events?after=${encodeURIComponent(bad)}`, { headers: { accept: "application/json" } }), 400, "invalid_last_event_id");
    }
    expectError(await call("GET", "/v1/sessions/ses_none/events?after=9007199254740991", { headers: { accept: "application/json" } }), 404, "session_not_found");
  });
});

describe("session list pages", () => {
  const list = async (q: string) => {
    const res = await call("GET", `/v1/sessions${q}`);
    expect(res.statusCode).toBe(200);
    return JSON.parse(res.body) as { sessions: { id: string; state: string }[]; nextCursor?: string };
  };

  it("pages by cursor, newest first, each session once, and filters by state", async () => {
    // Rows straight into the store: this is about the list, not about starting harnesses.
    const ids = ["ses_page1", "ses_page2", "ses_page3", "ses_page4", "ses_page5"];
    for (const id of ids) await server.store.insertSession(session(id, { createdAt: "2020-01-01T00:00:00.000Z", state: id.endsWith("2") || id.endsWith("4") ? "ended" : "interrupted" }));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list(`?limit=2${cursor ? `&before=${cursor}` : ""}`);
      seen.push(...page.sessions.map((x) => x.id).filter((id) => id.startsWith("ses_page")));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 20);
    expect(seen).toEqual([...ids].reverse());
    // A full last page says no more follow only when none do: five sessions in pages of five.
    const whole = await list("?limit=5&state=ended,interrupted");
    expect(whole.sessions.map((x) => x.id)).toEqual([...ids].reverse());
    expect(whole.nextCursor).toBeUndefined();
    const ended = await list("?state=ended");
    expect(ended.sessions.map((x) => x.id)).toEqual(["ses_page4", "ses_page2"]);
    // Repeated states are one filter.
    expect((await list("?state=ended,ended")).sessions).toHaveLength(2);
    expect((await list("?limit=1&state=ended")).nextCursor).toEqual(expect.any(String));
  });

  it("refuses a cursor it did not give, without echoing it", async () => {
    const forged = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
    const bad = [
      "",
      "not a cursor!",
      "%27%20OR%201%3D1",
      "A".repeat(301),
      forged("not json"),
      forged({ createdAt: "2020-01-01T00:00:00.000Z", id: "ses_x" }),
      forged(["2020-01-01T00:00:00.000Z"]),
      forged(["2020-01-01T00:00:00.000Z", "ses_x", "extra"]),
      forged(["yesterday", "ses_x"]),
      forged(["2020-01-01T00:00:00.000Z", "x' OR 1=1 --"]),
      forged(["2020-01-01T00:00:00.000Z", "../../etc"]),
      forged([1, 2]),
    ];
    for (const b of bad) {
      const res = await call("GET", `/v1/sessions?before=${encodeURIComponent(b)}`);
      expectError(res, 400, "invalid_cursor");
      if (b.length > 3) expect(res.body).not.toContain(b);
    }
    for (const st of ["bogus", "ready,", ",ready", "READY", "ready;ended", "ready,,ended"]) expectError(await call("GET", `/v1/sessions?state=${encodeURIComponent(st)}`), 400, "invalid_request");
    expectError(await call("GET", "/v1/sessions?before=a&before=b"), 400, "invalid_request");
  });
});

describe("recovery from the previous run", () => {
  const deps = (recovered: Promise<void>) =>
    buildApi({
      manager: { list: () => [], tallies: async () => new Map() } as unknown as SessionManager,
      events: {} as EventLog,
      installer: {} as HarnessInstaller,
      redactor,
      logger: createLogger(redactor, { level: "silent" }),
      apiToken: TOKEN,
      notReady: async () => null,
      version: "test",
      recovered,
    });
  const list = (api: Awaited<ReturnType<typeof buildApi>>) => api.inject({ method: "GET", url: "/v1/sessions", headers: { authorization: `Bearer ${TOKEN}` } });

  it("/health answers at once; /v1 waits until the previous run's leftovers are reaped", async () => {
    let finish!: () => void;
    const api = await deps(new Promise<void>((r) => (finish = r)));
    expect((await api.inject({ method: "GET", url: "/health" })).statusCode).toBe(200);
    let answered = false;
    const pending = list(api).then((r) => ((answered = true), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    finish();
    expect((await pending).statusCode).toBe(200);
  });

  it("a failed recovery answers 503 recovery_failed, with the reason", async () => {
    const failed = Promise.reject(new Error("the engine went away"));
    failed.catch(() => {});
    const res = await list(await deps(failed));
    expectError(res, 503, "recovery_failed");
    expect(res.body).toContain("the engine went away");
  });
});
