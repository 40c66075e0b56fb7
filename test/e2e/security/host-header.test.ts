import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startBerth, type BerthProc } from "../helpers.js";
import { rawRequest } from "./raw-http.js";

// Attack: DNS rebinding. A page on attacker.example re-resolves its name to 127.0.0.1; the
// browser then sends berth requests with Host: attacker.example and reads the answers
// (/metrics, /openapi.json need no token). berth answers only names it is reachable by.

const ROUTES = ["/health", "/ready", "/metrics", "/openapi.json", "/v1/sessions", "/v1/harnesses", "/nope"];
const REBOUND = ["attacker.example", "attacker.example:8765", "localhost.attacker.example", "127.0.0.1.nip.io", "127.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]", "0.0.0.0", "localhost:80@attacker.example", "a b"];

const get = (url: string, path: string, host: string | null, extra = "") =>
  rawRequest(url, `GET ${path} HTTP/1.1\r\n${host === null ? "" : `Host: ${host}\r\n`}Authorization: Bearer ${API_TOKEN}\r\n${extra}Connection: close\r\n\r\n`);

let berth: BerthProc;
beforeAll(async () => {
  berth = await startBerth({ env: { BERTH_ALLOWED_HOSTS: "berth.example.com,*.proxy.example" } });
});
afterAll(async () => berth?.stop());

function expectRefused(r: { status: number; body: string; raw: string }, what: string) {
  expect(r.status, what).toBe(421);
  expect(JSON.parse(r.body).error.code, what).toBe("host_not_allowed");
  expect(r.raw, what).not.toContain("berth_"); // no metric leaked
  expect(r.raw, what).not.toContain("openapi");
}

describe("Host header (bound to loopback)", () => {
  it("every route refuses a Host that is not this server's, with 421 host_not_allowed", async () => {
    for (const path of ROUTES) for (const host of REBOUND) expectRefused(await get(berth.url, path, host), `${path} Host: ${host}`);
  });

  it("a request without a Host header (HTTP/1.0) is refused too", async () => {
    const r = await rawRequest(berth.url, `GET /metrics HTTP/1.0\r\n\r\n`);
    expectRefused(r, "HTTP/1.0 without Host");
  });

  it("a refused write changes nothing", async () => {
    const body = JSON.stringify({ harness: "nope" });
    const r = await rawRequest(
      berth.url,
      `POST /v1/sessions HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer ${API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expectRefused(r, "POST");
    expect(await berth.client.listSessions()).toEqual([]);
  });

  it("loopback names, addresses and the operator's BERTH_ALLOWED_HOSTS are answered", async () => {
    const port = new URL(berth.url).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, "127.0.0.2", `[::1]:${port}`, "LOCALHOST", "localhost.", "berth.example.com", "a.proxy.example:443"]) {
      const r = await get(berth.url, "/v1/sessions", host);
      expect(r.status, host).toBe(200);
    }
    for (const host of ["example.com", "proxy.example", "berth.example.com.attacker.example"]) expectRefused(await get(berth.url, "/health", host), host);
  });
});

describe("Host header (bound to a wildcard)", () => {
  it("answers local interface addresses, refuses other names, and warns that it is exposed without TLS", async () => {
    const wild = await startBerth({ env: { BERTH_HOST: "0.0.0.0" } });
    try {
      const port = new URL(wild.url).port;
      const local = `http://127.0.0.1:${port}`;
      const addrs = Object.values(networkInterfaces()).flatMap((a) => a ?? []).filter((a) => a.family === "IPv4");
      for (const a of addrs) expect((await get(local, "/health", `${a.address}:${port}`)).status, a.address).toBe(200);
      for (const host of REBOUND) expectRefused(await get(local, "/health", host), host);
      expect(wild.log()).toMatch(/berth: WARNING: the API is bound to 0\.0\.0\.0, off this machine, without TLS/);
    } finally {
      await wild.stop();
    }
    const behindTls = await startBerth({ env: { BERTH_HOST: "0.0.0.0", BERTH_PUBLIC_URL: "https://berth.example.com" } });
    await behindTls.stop();
    expect(behindTls.log()).not.toMatch(/without TLS/);
  });

  it("refuses to start on a malformed BERTH_ALLOWED_HOSTS", async () => {
    await expect(startBerth({ env: { BERTH_ALLOWED_HOSTS: "https://berth.example.com" } })).rejects.toThrow(/BERTH_ALLOWED_HOSTS: 'https:\/\/berth.example.com' is not a host name/);
  });
});
