import { linkSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { EgressProxy } from "../../../src/sandboxes/egress/proxy.js";
import type { EgressDecision, EgressPolicy } from "../../../src/sandboxes/egress/policy.js";

// Everything here stays on loopback. Test names resolve through the injected resolver; names
// that resolve to private or metadata addresses must be refused before any connection, and
// the guard below makes sure the proxy never opens a TCP connection to a non-loopback address.

const NAMES: Record<string, string[]> = {
  "allowed.test": ["127.0.0.1"],
  "api.allowed.test": ["127.0.0.1"],
  "deep.api.allowed.test": ["127.0.0.1"],
  "web.test": ["127.0.0.1"],
  "private.test": ["10.0.0.1"],
  "metadata.test": ["169.254.169.254"],
  "lan.test": ["192.168.1.1"],
  "mapped.test": ["::ffff:169.254.169.254"],
  "cgnat.test": ["100.64.0.7"],
  "ula.test": ["fd00:ec2::254"],
  "ecs.test": ["169.254.170.2"],
  "ecs6.test": ["fd00:ec2::23"],
  "berth.test": ["127.0.0.1"],
  "berth-any.test": ["0.0.0.0"],
  "berth-lan.test": ["192.0.2.10"],
  "berth-mapped.test": ["::ffff:127.0.0.1"],
  // one public address and one private one: the private one alone must sink it
  "mixed.test": ["198.51.100.7", "10.0.0.1"],
};

let resolved: string[] = [];
async function fakeResolve(host: string): Promise<string[]> {
  resolved.push(host);
  const a = NAMES[host];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return a;
}

// Upstream connection attempts the proxy makes (it uses net.connect; test clients use
// net.createConnection or a unix path). Anything not on loopback is refused outright.
let upstreamAttempts: string[] = [];
const realConnect = net.connect;
beforeEach(() => {
  upstreamAttempts = [];
  resolved = [];
  vi.spyOn(net, "connect").mockImplementation(((...args: unknown[]) => {
    const o = args[0];
    if (o && typeof o === "object" && "host" in o) {
      const { host: h, port } = o as { host: unknown; port?: unknown };
      const host = String(h);
      upstreamAttempts.push(`${host}:${String(port)}`);
      if (host !== "127.0.0.1" && host !== "::1") throw new Error(`test guard: refusing to connect to ${host}`);
    }
    return (realConnect as (...a: unknown[]) => net.Socket)(...args);
  }) as typeof net.connect);
});
afterEach(() => {
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------------------
// Local servers

let echoPort = 0;
let echoConns: net.Socket[] = [];
const echo = net.createServer((s) => {
  echoConns.push(s);
  s.on("error", () => {});
  s.pipe(s);
});

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
let webPort = 0;
let webSeen: Seen[] = [];
const web = http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    webSeen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
    res.writeHead(201, { "content-type": "text/plain", "x-upstream": "yes", connection: "x-hop", "x-hop": "1", "proxy-authenticate": "Basic" });
    res.end(`hello ${req.url}`);
  });
});

let closedPort = 0;

beforeAll(async () => {
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as net.AddressInfo).port;
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  webPort = (web.address() as net.AddressInfo).port;
  // a port with nothing listening
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
  closedPort = (tmp.address() as net.AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
});
afterAll(async () => {
  for (const s of echoConns) s.destroy();
  web.closeAllConnections();
  await new Promise<void>((r) => echo.close(() => r()));
  await new Promise<void>((r) => web.close(() => r()));
});

// ---------------------------------------------------------------------------------------
// Proxies and clients

const proxies: EgressProxy[] = [];
const clients: net.Socket[] = [];
let decisions: EgressDecision[] = [];

beforeEach(() => {
  decisions = [];
  echoConns = [];
  webSeen = [];
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

async function startProxy(policy: EgressPolicy, extra: Partial<ConstructorParameters<typeof EgressProxy>[0]> = {}): Promise<EgressProxy> {
  const p = new EgressProxy({ policy, resolve: fakeResolve, onDecision: (d) => decisions.push(d), ...extra });
  proxies.push(p);
  await p.start();
  return p;
}

function proxyPort(p: EgressProxy): number {
  return Number(p.address.split(":").pop());
}

/** A raw client socket with a buffer that tests can wait on. */
class Conn {
  buf = Buffer.alloc(0);
  ended = false;
  closed = false;
  private waiters: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    clients.push(socket);
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }
  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }
  text(): string {
    return this.buf.toString();
  }
  async until(pred: () => boolean, ms = 5000): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; received so far: ${JSON.stringify(this.text())}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
}

function openClient(p: EgressProxy): Conn {
  const a = p.address;
  const s = a.startsWith("/") ? net.connect(a) : net.createConnection({ host: "127.0.0.1", port: proxyPort(p) });
  return new Conn(s);
}

/** Sends raw bytes, waits for a response head; returns the status and leaves the rest in c.buf. */
async function sendRaw(c: Conn, data: string): Promise<{ status: number; head: string }> {
  c.socket.write(data);
  await c.until(() => c.text().includes("\r\n\r\n") || c.closed);
  const t = c.text();
  const end = t.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no response head: ${JSON.stringify(t)}`);
  const head = t.slice(0, end);
  c.buf = c.buf.subarray(Buffer.byteLength(t.slice(0, end + 4)));
  return { status: Number(head.split(" ")[1]), head };
}

async function connectVia(p: EgressProxy, authority: string, first = ""): Promise<{ c: Conn; status: number; head: string }> {
  const c = openClient(p);
  const r = await sendRaw(c, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${first}`);
  return { c, ...r };
}

/** A refused CONNECT: the status and the whole body. */
async function refusedConnect(p: EgressProxy, authority: string): Promise<{ status: number; body: string }> {
  const { c, status } = await connectVia(p, authority);
  await c.until(() => c.ended || c.closed);
  return { status, body: c.text() };
}

function httpVia(
  p: EgressProxy,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port: proxyPort(p), method: opts.method ?? "GET", path: url, headers: opts.headers, agent: false },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

// ---------------------------------------------------------------------------------------


describe("EgressProxy: CONNECT", () => {
  it("tunnels to an allowed name, connecting to the vetted address", async () => {
    const p = await startProxy({ allow: [`allowed.test:${echoPort}`], allowPrivateAddresses: true });
    const { c, status, head } = await connectVia(p, `Allowed.Test.:${echoPort}`, "early");
    expect(status).toBe(200);
    expect(head).toBe("HTTP/1.1 200 Connection Established");
    await c.until(() => c.text() === "early");
    c.socket.write(" and more");
    await c.until(() => c.text() === "early and more");
    expect(decisions).toEqual([
      { host: "allowed.test", port: echoPort, allowed: true, reason: `allowed by "allowed.test:${echoPort}"`, method: "CONNECT", address: "127.0.0.1" },
    ]);
    expect(upstreamAttempts).toEqual([`127.0.0.1:${echoPort}`]);
    expect(resolved).toEqual(["allowed.test"]);
  });

  it("allows wildcard subdomains but not the apex", async () => {
    const p = await startProxy({ allow: [`*.allowed.test:${echoPort}`], allowPrivateAddresses: true });
    for (const h of ["api.allowed.test", "deep.api.allowed.test"]) {
      const { c, status } = await connectVia(p, `${h}:${echoPort}`);
      expect(status).toBe(200);
      c.socket.write("ping");
      await c.until(() => c.text() === "ping");
    }
    expect(await refusedConnect(p, `allowed.test:${echoPort}`)).toEqual({
      status: 403,
      body: `berth egress: allowed.test:${echoPort} is not allowed (host is not in the allowlist)`,
    });
  });

  it("refuses ports that are not allowed", async () => {
    const p = await startProxy({ allow: ["allowed.test"], allowPrivateAddresses: true });
    const r = await refusedConnect(p, `allowed.test:${echoPort}`);
    expect(r.status).toBe(403);
    expect(r.body).toBe(`berth egress: allowed.test:${echoPort} is not allowed (port ${echoPort} is not allowed for this host)`);
    expect(echoConns).toHaveLength(0);
    expect(resolved).toEqual([]); // refused before resolving
    expect(decisions).toMatchObject([{ host: "allowed.test", port: echoPort, allowed: false, method: "CONNECT" }]);
  });

  it("refuses names outside the allowlist with 403 and the reason", async () => {
    const p = await startProxy({ allow: ["allowed.test"] });
    const r = await refusedConnect(p, "evil.test:443");
    expect(r.status).toBe(403);
    expect(r.body).toBe("berth egress: evil.test:443 is not allowed (host is not in the allowlist)");
    expect(decisions).toEqual([{ host: "evil.test", port: 443, allowed: false, reason: "host is not in the allowlist", method: "CONNECT" }]);
    expect(upstreamAttempts).toEqual([]);
  });

  it("refuses loopback targets unless allowPrivateAddresses", async () => {
    const p = await startProxy({ allow: [`allowed.test:${echoPort}`] });
    const r = await refusedConnect(p, `allowed.test:${echoPort}`);
    expect(r.status).toBe(403);
    expect(r.body).toBe(`berth egress: allowed.test:${echoPort} is not allowed (resolves to loopback address 127.0.0.1)`);
    expect(upstreamAttempts).toEqual([]);
    expect(echoConns).toHaveLength(0);
  });

  it.each([
    ["private.test", "resolves to private address 10.0.0.1", "10.0.0.1"],
    ["metadata.test", "resolves to cloud metadata address 169.254.169.254", "169.254.169.254"],
    ["lan.test", "resolves to private address 192.168.1.1", "192.168.1.1"],
    ["mapped.test", "resolves to cloud metadata address ::ffff:169.254.169.254", "::ffff:169.254.169.254"],
    ["cgnat.test", "resolves to shared (CGNAT) address 100.64.0.7", "100.64.0.7"],
    ["ula.test", "resolves to cloud metadata address fd00:ec2::254", "fd00:ec2::254"],
    ["mixed.test", "resolves to private address 10.0.0.1", "10.0.0.1"],
  ])("refuses %s (allowed by name) without connecting", async (name, reason, address) => {
    const p = await startProxy({ allow: [name, `*.${name}`] });
    const r = await refusedConnect(p, `${name}:443`);
    expect(r).toEqual({ status: 403, body: `berth egress: ${name}:443 is not allowed (${reason})` });
    expect(decisions).toEqual([{ host: name, port: 443, allowed: false, reason, method: "CONNECT", address }]);
    expect(resolved).toEqual([name]);
    expect(upstreamAttempts).toEqual([]);
  });

  it("refuses cloud metadata even when private addresses are allowed", async () => {
    const p = await startProxy({ allow: ["metadata.test", "mapped.test"], allowPrivateAddresses: true });
    expect((await refusedConnect(p, "metadata.test:80")).status).toBe(403);
    expect((await refusedConnect(p, "mapped.test:80")).status).toBe(403);
    expect(upstreamAttempts).toEqual([]);
  });

  it("refuses every metadata address (all of 169.254/16, AWS's fd00:ec2::/32) even when private addresses are allowed", async () => {
    const p = await startProxy({ allow: ["ecs.test", "ecs6.test", "169.254.170.2", "fd00:ec2::23"], allowPrivateAddresses: true });
    expect((await refusedConnect(p, "ecs.test:80")).body).toBe("berth egress: ecs.test:80 is not allowed (resolves to cloud metadata address 169.254.170.2)");
    expect((await refusedConnect(p, "ecs6.test:80")).body).toBe("berth egress: ecs6.test:80 is not allowed (resolves to cloud metadata address fd00:ec2::23)");
    expect((await refusedConnect(p, "169.254.170.2:80")).status).toBe(403);
    expect((await refusedConnect(p, "[fd00:ec2::23]:80")).status).toBe(403);
    const r = await httpVia(p, "http://169.254.170.2/v2/credentials/x");
    expect(r.status).toBe(403);
    expect(r.headers["x-berth-egress-refused"]).toBe("metadata_address");
    expect(upstreamAttempts).toEqual([]);
  });

  it("never reaches berth's own endpoints, on loopback, the unspecified address or a local address, whatever the policy", async () => {
    const own = [{ host: "127.0.0.1", port: echoPort }];
    const p = await startProxy(
      { allow: [`berth.test:${echoPort}`, `berth-any.test:${echoPort}`, `berth-lan.test:${echoPort}`, `berth-mapped.test:${echoPort}`, `127.0.0.1:${echoPort}`, `allowed.test:${echoPort}`], allowPrivateAddresses: true },
      { ownEndpoints: () => own, localAddresses: () => ["127.0.0.1", "192.0.2.10"] },
    );
    for (const [target, addr] of [
      [`berth.test:${echoPort}`, "127.0.0.1"],
      [`berth-any.test:${echoPort}`, "0.0.0.0"],
      [`berth-lan.test:${echoPort}`, "192.0.2.10"],
      [`berth-mapped.test:${echoPort}`, "::ffff:127.0.0.1"],
      [`127.0.0.1:${echoPort}`, "127.0.0.1"],
    ] as const) {
      const r = await refusedConnect(p, target);
      expect(r.status).toBe(403);
      expect(r.body).toContain(`berth's own endpoint ${addr.includes(":") ? `[${addr}]` : addr}:${echoPort}`);
    }
    const r = await httpVia(p, `http://berth.test:${echoPort}/v1/sessions`);
    expect(r.status).toBe(403);
    expect(r.headers["x-berth-egress-refused"]).toBe("berth_endpoint");
    expect(upstreamAttempts).toEqual([]);
    // The same port on a name berth does not own is still allowed once berth's endpoint moves.
    own[0] = { host: "127.0.0.1", port: closedPort };
    expect((await connectVia(p, `allowed.test:${echoPort}`)).status).toBe(200);
  });

  it("refuses private and metadata targets over plain HTTP too, without connecting", async () => {
    const p = await startProxy({ allow: ["metadata.test", "private.test"] });
    const r = await httpVia(p, "http://metadata.test/latest/meta-data/");
    expect(r.status).toBe(403);
    expect(r.body).toBe("berth egress: metadata.test:80 is not allowed (resolves to cloud metadata address 169.254.169.254)");
    const priv = await httpVia(p, "http://private.test/");
    expect(priv.status).toBe(403);
    expect(priv.headers["x-berth-egress-refused"]).toBe("private_address");
    expect((await httpVia(p, "http://web.test/")).headers["x-berth-egress-refused"]).toBe("not_allowed");
    expect(upstreamAttempts).toEqual([]);
  });

  it("handles IP literals: only when listed exactly, without DNS, and still subject to the address check", async () => {
    const p = await startProxy({ allow: [`127.0.0.1:${echoPort}`, "*.test", "localhost"], allowPrivateAddresses: true });
    const ok = await connectVia(p, `127.0.0.1:${echoPort}`);
    expect(ok.status).toBe(200);
    ok.c.socket.write("ip");
    await ok.c.until(() => ok.c.text() === "ip");
    // WHATWG numeric forms normalize to the same literal
    expect((await connectVia(p, `2130706433:${echoPort}`)).status).toBe(200);
    expect(resolved).toEqual([]);
    // not listed: neither the wildcard nor a name rule matches an IP
    expect((await refusedConnect(p, "127.0.0.2:443")).body).toBe("berth egress: 127.0.0.2:443 is not allowed (host is not in the allowlist)");
    expect((await refusedConnect(p, `[::1]:${echoPort}`)).body).toBe(`berth egress: [::1]:${echoPort} is not allowed (host is not in the allowlist)`);
    expect((await refusedConnect(p, "127.0.0.1:443")).body).toMatch(/port 443 is not allowed/);

    const strict = await startProxy({ allow: ["10.0.0.1", "169.254.169.254"] });
    expect((await refusedConnect(strict, "10.0.0.1:443")).body).toBe("berth egress: 10.0.0.1:443 is not allowed (private address)");
    expect((await refusedConnect(strict, "169.254.169.254:80")).body).toBe(
      "berth egress: 169.254.169.254:80 is not allowed (cloud metadata address)",
    );
    expect(upstreamAttempts).toEqual([`127.0.0.1:${echoPort}`, `127.0.0.1:${echoPort}`]);
  });

  it("answers 502 for a name that does not resolve and for a refused connection", async () => {
    const p = await startProxy({ allow: ["nowhere.test", `allowed.test:${closedPort}`], allowPrivateAddresses: true });
    expect(await refusedConnect(p, "nowhere.test:443")).toEqual({
      status: 502,
      body: "berth egress: nowhere.test:443 could not be resolved (ENOTFOUND)",
    });
    expect(decisions[0]).toEqual({ host: "nowhere.test", port: 443, allowed: false, reason: "cannot resolve (ENOTFOUND)", method: "CONNECT" });
    expect(await refusedConnect(p, `allowed.test:${closedPort}`)).toEqual({
      status: 502,
      body: `berth egress: could not connect to allowed.test:${closedPort} (ECONNREFUSED)`,
    });
  });

  it("answers 504 when resolving and connecting take longer than the timeout", async () => {
    const p = await startProxy(
      { allow: ["slow.test"] },
      { resolve: () => new Promise<string[]>(() => {}), connectTimeoutMs: 200 },
    );
    const t0 = Date.now();
    const r = await refusedConnect(p, "slow.test:443");
    expect(r).toEqual({ status: 504, body: "berth egress: slow.test:443 did not resolve within 200ms" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(decisions).toMatchObject([{ host: "slow.test", allowed: false, reason: "timed out resolving" }]);
  });

  it("answers 400 to a malformed CONNECT target and keeps serving", async () => {
    const p = await startProxy({ allow: [`allowed.test:${echoPort}`], allowPrivateAddresses: true });
    for (const bad of ["allowed.test", "allowed.test:0", "allowed.test:99999", "a b:443", "[::1:443"]) {
      const { status } = await connectVia(p, bad);
      expect(status, bad).toBe(400);
    }
    expect((await connectVia(p, `allowed.test:${echoPort}`)).status).toBe(200);
    expect(decisions).toHaveLength(1);
  });
});

describe("EgressProxy: plain HTTP", () => {
  it("forwards absolute-form requests, dropping hop-by-hop and Proxy-* headers", async () => {
    const p = await startProxy({ allow: [`web.test:${webPort}`], allowPrivateAddresses: true });
    const r = await httpVia(p, `http://web.test:${webPort}/path/x?q=1`, {
      method: "POST",
      headers: {
        "proxy-authorization": "Basic c2VjcmV0",
        "proxy-connection": "keep-alive",
        connection: "keep-alive, x-drop-me",
        "x-drop-me": "1",
        "x-keep": "yes",
        te: "trailers",
        host: "something-else.test",
        "content-type": "text/plain",
      },
      body: "payload",
    });
    expect(r.status).toBe(201);
    expect(r.body).toBe("hello /path/x?q=1");
    expect(r.headers["x-upstream"]).toBe("yes");
    expect(r.headers["x-hop"]).toBeUndefined();
    expect(r.headers["proxy-authenticate"]).toBeUndefined();
    expect(webSeen).toHaveLength(1);
    const seen = webSeen[0]!;
    expect(seen.method).toBe("POST");
    expect(seen.url).toBe("/path/x?q=1");
    expect(seen.body).toBe("payload");
    expect(seen.headers.host).toBe(`web.test:${webPort}`);
    expect(seen.headers["x-keep"]).toBe("yes");
    expect(seen.headers["content-type"]).toBe("text/plain");
    for (const h of ["proxy-authorization", "proxy-connection", "x-drop-me", "te"]) expect(seen.headers[h], h).toBeUndefined();
    expect(decisions).toEqual([
      { host: "web.test", port: webPort, allowed: true, reason: `allowed by "web.test:${webPort}"`, method: "POST", address: "127.0.0.1" },
    ]);
    expect(upstreamAttempts).toEqual([`127.0.0.1:${webPort}`]);
  });

  it("refuses with 403 and a plain-text reason", async () => {
    const p = await startProxy({ allow: ["web.test"], allowPrivateAddresses: true });
    const r = await httpVia(p, "http://evil.test/steal");
    expect(r.status).toBe(403);
    expect(r.headers["content-type"]).toMatch(/^text\/plain/);
    expect(r.body).toBe("berth egress: evil.test:80 is not allowed (host is not in the allowlist)");
    const port = await httpVia(p, `http://web.test:${webPort}/`);
    expect(port.body).toBe(`berth egress: web.test:${webPort} is not allowed (port ${webPort} is not allowed for this host)`);
    expect(webSeen).toHaveLength(0);
  });

  it("answers 400 to origin-form and https:// requests", async () => {
    const p = await startProxy({ allow: ["web.test"], allowPrivateAddresses: true });
    expect((await httpVia(p, "/direct")).status).toBe(400);
    const https = await httpVia(p, "https://web.test/");
    expect(https.status).toBe(400);
    expect(https.body).toMatch(/use CONNECT/);
    expect(decisions).toEqual([]);
  });
});

describe("EgressProxy: lifecycle and robustness", () => {
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-egress-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("listens on a unix socket, replacing a stale socket file", async () => {
    const path = join(dir, "egress.sock");
    // leave a stale socket file behind: a hard link survives the listener's own cleanup
    const old = net.createServer();
    await new Promise<void>((r) => old.listen(join(dir, "old.sock"), r));
    linkSync(join(dir, "old.sock"), path);
    await new Promise<void>((r) => old.close(() => r()));
    expect(statSync(path).isSocket()).toBe(true);

    const p = await startProxy({ allow: [`allowed.test:${echoPort}`], allowPrivateAddresses: true }, { socketPath: path });
    expect(p.address).toBe(path);
    expect(statSync(path).mode & 0o777).toBe(0o666);
    const c = new Conn(net.connect(path));
    const { status } = await sendRaw(c, `CONNECT allowed.test:${echoPort} HTTP/1.1\r\n\r\n`);
    expect(status).toBe(200);
    c.socket.write("via unix");
    await c.until(() => c.text() === "via unix");
    await p.close();
    await c.until(() => c.closed);
  });

  it("will not replace something that is not a socket", async () => {
    const path = join(dir, "file");
    writeFileSync(path, "x");
    const p = new EgressProxy({ policy: { allow: [] }, socketPath: path });
    await expect(p.start()).rejects.toThrow(/not a socket/);
  });

  it("close() ends open tunnels on both sides", async () => {
    const p = await startProxy({ allow: [`allowed.test:${echoPort}`], allowPrivateAddresses: true });
    const { c, status } = await connectVia(p, `allowed.test:${echoPort}`);
    expect(status).toBe(200);
    c.socket.write("x");
    await c.until(() => c.text() === "x");
    expect(echoConns).toHaveLength(1);
    const upstream = echoConns[0]!;
    const upstreamClosed = new Promise<void>((r) => (upstream.destroyed ? r() : upstream.once("close", () => r())));
    await p.close();
    await c.until(() => c.closed);
    await upstreamClosed;
    await p.close(); // idempotent
  });

  it("ends the upstream side when the client goes away", async () => {
    const p = await startProxy({ allow: [`allowed.test:${echoPort}`], allowPrivateAddresses: true });
    const { c } = await connectVia(p, `allowed.test:${echoPort}`);
    c.socket.write("y");
    await c.until(() => c.text() === "y");
    const upstream = echoConns[0]!;
    const closed = new Promise<void>((r) => upstream.once("close", () => r()));
    c.socket.destroy();
    await closed;
  });

  it("setPolicy applies to new requests and rejects malformed policies, keeping the old one", async () => {
    const p = await startProxy({ allow: [`allowed.test:${echoPort}`], allowPrivateAddresses: true });
    const open = await connectVia(p, `allowed.test:${echoPort}`);
    expect(open.status).toBe(200);
    expect(() => p.setPolicy({ allow: ["https://x.test"] })).toThrow(/remove the scheme/);
    expect((await connectVia(p, `allowed.test:${echoPort}`)).status).toBe(200);
    p.setPolicy({ allow: ["other.test"] });
    expect((await refusedConnect(p, `allowed.test:${echoPort}`)).status).toBe(403);
    // the tunnel opened before the change stays up
    open.c.socket.write("still");
    await open.c.until(() => open.c.text() === "still");
  });

  it("survives garbage, early hang-ups and a throwing onDecision", async () => {
    let slow: (a: string[]) => void = () => {};
    const p = await startProxy(
      { allow: [`allowed.test:${echoPort}`, "slow.test"], allowPrivateAddresses: true },
      {
        onDecision: () => {
          throw new Error("listener bug");
        },
        resolve: (h) => (h === "slow.test" ? new Promise<string[]>((r) => (slow = r)) : fakeResolve(h)),
      },
    );
    const g = openClient(p);
    g.socket.write("\x00\x01 not http at all\r\n\r\n");
    await g.until(() => g.closed);
    expect(g.text()).toMatch(/^HTTP\/1\.1 400/);

    // the client hangs up while the name is being resolved; the proxy must not connect
    const h = openClient(p);
    h.socket.write("CONNECT slow.test:443 HTTP/1.1\r\n\r\n");
    await new Promise((r) => setTimeout(r, 50));
    h.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    slow(["127.0.0.1"]);
    await new Promise((r) => setTimeout(r, 50));
    // the same over plain HTTP
    const k = openClient(p);
    k.socket.write("GET http://slow.test/ HTTP/1.1\r\nHost: slow.test\r\n\r\n");
    await new Promise((r) => setTimeout(r, 50));
    k.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    slow(["127.0.0.1"]);
    await new Promise((r) => setTimeout(r, 50));
    expect(upstreamAttempts).toEqual([]);

    const { c, status } = await connectVia(p, `allowed.test:${echoPort}`);
    expect(status).toBe(200);
    c.socket.write("alive");
    await c.until(() => c.text() === "alive");
  });

  it("validates the policy in the constructor", () => {
    expect(() => new EgressProxy({ policy: { allow: ["example.com/path"] } })).toThrow(/remove the path/);
  });
});
