import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startBerth, type BerthProc } from "../helpers.js";
import { rawRequest, type RawResponse } from "./raw-http.js";

// Attack surface: what Fastify and Node's HTTP parser answer themselves (before any route
// runs) used to come back in their own shapes, and some inputs gave a 500. Every error,
// from any layer, must be {"error":{"code","message"}} with a 4xx status.

let berth: BerthProc;
let host: string;
beforeAll(async () => {
  berth = await startBerth();
  host = new URL(berth.url).host;
});
afterAll(async () => berth?.stop());

const req = (head: string, body = "") =>
  rawRequest(berth.url, `${head.replace("HOST", host).replace("TOKEN", API_TOKEN)}\r\nConnection: close\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`);

function expectShape(r: RawResponse, status: number, code: string) {
  expect(r.status, r.raw.slice(0, 300)).toBe(status);
  expect(r.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(r.body);
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toMatch(/^[^\n]{10,300}$/);
  expect(r.raw).not.toContain(API_TOKEN);
  expect(r.raw).not.toMatch(/statusCode|FST_ERR|at .*\.(ts|js):\d+/);
}

describe("every error has the documented shape", () => {
  const auth = "Authorization: Bearer TOKEN";
  const cases: [string, () => Promise<RawResponse>, number, string][] = [
    ["headers over 16 KiB", () => req(`GET /health HTTP/1.1\r\nHost: HOST\r\nX-Big: ${"a".repeat(20_000)}`), 431, "headers_too_large"],
    ["a request line over 16 KiB", () => req(`GET /v1/sessions?x=${"a".repeat(20_000)} HTTP/1.1\r\nHost: HOST`), 431, "headers_too_large"],
    ["a path parameter over 100 characters", () => req(`GET /v1/sessions/${"a".repeat(2000)} HTTP/1.1\r\nHost: HOST\r\n${auth}`), 414, "uri_too_long"],
    ["a bad percent-encoding", () => req(`GET /v1/sessions/%ZZ HTTP/1.1\r\nHost: HOST\r\n${auth}`), 400, "invalid_url"],
    ["a garbage request line", () => req(`HELLO\r\nHost: HOST`), 400, "malformed_request"],
    ["both Content-Length and Transfer-Encoding (smuggling)", () => req(`POST /v1/sessions HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3`, "{}"), 400, "malformed_request"],
    ["a bad chunk size", () => req(`POST /v1/sessions HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n`), 400, "malformed_request"],
    ["a NUL in a header", () => req(`GET /health HTTP/1.1\r\nHost: HOST\r\nX-A: a\u0000b`), 400, "malformed_request"],
    ["an unknown route", () => req(`GET /admin HTTP/1.1\r\nHost: HOST`), 404, "not_found"],
    ["an unknown method", () => req(`PUT /v1/sessions HTTP/1.1\r\nHost: HOST\r\n${auth}`), 404, "not_found"],
    // Declared, with only its start sent: sending all of it races the early 413 and close against a TCP reset.
    ["a body over 4 MiB", () => rawRequest(berth.url, `POST /v1/sessions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${5 << 20}\r\nConnection: close\r\n\r\n{"harness":"xxxx`), 413, "body_too_large"],
    ["a chunked body over 4 MiB", () => rawRequest(berth.url, `POST /v1/sessions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${API_TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${`100000\r\n${"x".repeat(0x100000)}\r\n`.repeat(4)}1\r\nx\r\n`), 413, "body_too_large"],
    ["an unsupported content type", () => req(`POST /v1/sessions HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nContent-Type: application/x-www-form-urlencoded`, "harness=pi"), 415, "unsupported_media_type"],
    ["malformed JSON", () => req(`POST /v1/sessions HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nContent-Type: application/json`, "{nope"), 400, "invalid_json"],
    ["Last-Event-ID past 2^53", () => req(`GET /v1/sessions/ses_x/events HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nLast-Event-ID: 9007199254740993`), 400, "invalid_last_event_id"],
    ["Last-Event-ID 1e308", () => req(`GET /v1/sessions/ses_x/events HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nLast-Event-ID: 1e308`), 400, "invalid_last_event_id"],
    ["?after=1e308", () => req(`GET /v1/sessions/ses_x/events?after=1e308 HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nAccept: application/json`), 400, "invalid_last_event_id"],
    ["no token", () => req(`GET /v1/sessions HTTP/1.1\r\nHost: HOST`), 401, "unauthorized"],
  ];
  for (const [name, send, status, code] of cases) it(`${name} → ${status} ${code}`, async () => expectShape(await send(), status, code));

  it("routes without a body accept Content-Type: application/json and an empty body", async () => {
    for (const [method, path] of [
      ["DELETE", "/v1/sessions/ses_none"],
      ["POST", "/v1/sessions/ses_none/cancel"],
      ["POST", "/v1/sessions/ses_none/resume"],
    ])
      expectShape(await req(`${method} ${path} HTTP/1.1\r\nHost: HOST\r\n${auth}\r\nContent-Type: application/json\r\nContent-Length: 0`), 404, "session_not_found");
  });

  it("the server is healthy after", async () => {
    expect((await fetch(`${berth.url}/health`)).status).toBe(200);
    expect(await berth.client.listSessions()).toEqual([]);
  });
});
