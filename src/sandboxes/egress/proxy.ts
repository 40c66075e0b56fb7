import { promises as dns } from "node:dns";
import { chmodSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { canonicalAddress, classifyAddress, interfaceAddresses } from "./addresses.js";
import { matchRules, normalizeHost, parsePolicy, type EgressDecision, type EgressPolicy, type EgressRule } from "./policy.js";
import {
  DeadlineError,
  filterHeaders,
  hostPort,
  parseAuthority,
  rawResponse,
  REFUSAL_HEADER,
  removeStaleSocket,
  seconds,
  sendText,
  withDeadline,
  type Target,
} from "./proxy-http.js";

/**
 * The session egress proxy (T1/T2 network policy). An isolated sandbox has no network of
 * its own; berth gives each session one of these, listening on a unix socket that is
 * bind-mounted into the sandbox and exposed there by the relay as http://127.0.0.1:PORT
 * (the harness gets HTTP_PROXY/HTTPS_PROXY pointing at it). It speaks `CONNECT host:port`
 * (tunnels, so HTTPS stays end to end) and plain HTTP forwarding of absolute-form requests,
 * and lets a request through only when:
 *
 *   1. the host and port match the session's allowlist;
 *   2. every address the name resolves to is public (no loopback, private, link-local,
 *      CGNAT, cloud metadata, ... unless the policy says allowPrivateAddresses);
 *   3. then it connects to the vetted address itself, never to the name again, so a
 *      second DNS answer (rebinding) cannot redirect the connection.
 */

export interface EgressProxyOptions {
  /** Listen on this unix socket (a stale socket file there is removed first). */
  socketPath?: string;
  /** Otherwise listen on host:port (default 127.0.0.1, a free port); for tests. */
  host?: string;
  port?: number;
  policy: EgressPolicy;
  onDecision?: (d: EgressDecision) => void;
  /**
   * berth's own listening endpoints (API, gateway, mock provider): never reachable through the
   * proxy, on loopback, on any local address or on the unspecified address, whatever the
   * policy. Called per request, so endpoints that start later count.
   */
  ownEndpoints?: () => { host: string; port: number }[];
  /** This host's own addresses (default: every interface's); injectable for tests. */
  localAddresses?: () => string[];
  /** Name to addresses; default dns.promises.lookup with all: true. Injectable for tests. */
  resolve?: (host: string) => Promise<string[]>;
  /** How long resolving plus connecting may take before the client gets 504 (default 10 s). */
  connectTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** Bytes a client may send after CONNECT before the tunnel is up; past this it is paused. */
const EARLY_LIMIT = 64 * 1024;



/** Why the proxy refused a target, machine-readable: the X-Berth-Egress-Refused header of its 403. */
export type EgressRefusal = "not_allowed" | "private_address" | "metadata_address" | "berth_endpoint";
export { REFUSAL_HEADER };

type Verdict =
  | { ok: true; addresses: string[] }
  | { ok: false; status: number; body: string; code?: EgressRefusal };

async function defaultResolve(host: string): Promise<string[]> {
  const all = await dns.lookup(host, { all: true });
  return all.map((a) => a.address);
}

export class EgressProxy {
  private server: http.Server;
  private rules: EgressRule[];
  private allowPrivate: boolean;
  private readonly resolveName: (host: string) => Promise<string[]>;
  private readonly timeoutMs: number;
  /** Every client and upstream socket, so close() can end tunnels. */
  private sockets = new Set<Duplex>();
  private closed = false;
  private listening = "";

  constructor(private readonly opts: EgressProxyOptions) {
    this.rules = parsePolicy(opts.policy.allow);
    this.allowPrivate = opts.policy.allowPrivateAddresses ?? false;
    this.resolveName = opts.resolve ?? defaultResolve;
    this.timeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    // requestTimeout 0: long uploads through the proxy are the upstream's business.
    this.server = http.createServer({ requestTimeout: 0 }, (req, res) => {
      this.onRequest(req, res).catch(() => res.destroy());
    });
    this.server.on("connection", (s: net.Socket) => {
      this.track(s);
      s.on("error", () => s.destroy());
    });
    this.server.on("connect", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onConnect(req, socket, head).catch(() => socket.destroy());
    });
    this.server.on("upgrade", (_req: IncomingMessage, socket: Duplex) => {
      socket.end(rawResponse(501, "berth egress: protocol upgrades through plain HTTP are not supported; use CONNECT"));
    });
  }

  /** The unix socket path, or "127.0.0.1:port" when listening on TCP; "" before start(). */
  get address(): string {
    return this.listening;
  }

  async start(): Promise<void> {
    const path = this.opts.socketPath;
    if (path) removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      const done = () => {
        this.server.off("error", reject);
        resolve();
      };
      if (path) this.server.listen(path, done);
      else this.server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", done);
    });
    this.server.on("error", () => {}); // after listening, never fatal
    if (path) {
      // Access is governed by where the socket is mounted; a T2 container's uid differs from berth's.
      chmodSync(path, 0o666);
      this.listening = path;
    } else {
      const a = this.server.address() as AddressInfo;
      this.listening = hostPort(a.address, a.port);
    }
  }

  /** Replaces the policy for new requests (throws, keeping the old one, on a malformed entry). Open tunnels stay. */
  setPolicy(p: EgressPolicy): void {
    const rules = parsePolicy(p.allow);
    this.rules = rules;
    this.allowPrivate = p.allowPrivateAddresses ?? false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.server.closeAllConnections();
    await done;
  }

  // -------------------------------------------------------------------------------------

  private track(s: Duplex): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
  }

  private emit(d: EgressDecision): void {
    try {
      this.opts.onDecision?.(d);
    } catch {
      // a faulty listener must not break the proxy
    }
  }

  /** Steps 1 and 2: the allowlist, then resolution and address vetting. */
  private async vet(method: string, t: Target, deadline: number): Promise<Verdict> {
    const rules = this.rules;
    const allowPrivate = this.allowPrivate;
    const where = hostPort(t.host, t.port);
    const refuse = (reason: string, code: EgressRefusal, address?: string): Verdict => {
      this.emit({ host: t.host, port: t.port, allowed: false, reason, method, ...(address ? { address } : {}) });
      return { ok: false, status: 403, body: `berth egress: ${where} is not allowed (${reason})`, code };
    };

    const m = matchRules(rules, t.host, t.port);
    if (!m.allowed) return refuse(m.reason, "not_allowed");

    const literal = net.isIP(t.host) !== 0;
    let addresses: string[];
    if (literal) {
      addresses = [t.host];
    } else {
      try {
        addresses = await withDeadline(this.resolveName(t.host), deadline);
      } catch (e) {
        if (e instanceof DeadlineError) {
          this.emit({ host: t.host, port: t.port, allowed: false, reason: "timed out resolving", method });
          return { ok: false, status: 504, body: `berth egress: ${where} did not resolve within ${seconds(this.timeoutMs)}` };
        }
        const why = (e as NodeJS.ErrnoException)?.code ?? (e instanceof Error ? e.message : String(e));
        this.emit({ host: t.host, port: t.port, allowed: false, reason: `cannot resolve (${why})`, method });
        return { ok: false, status: 502, body: `berth egress: ${where} could not be resolved (${why})` };
      }
      if (!Array.isArray(addresses) || addresses.length === 0 || addresses.some((a) => typeof a !== "string" || net.isIP(a) === 0)) {
        this.emit({ host: t.host, port: t.port, allowed: false, reason: "cannot resolve (no addresses)", method });
        return { ok: false, status: 502, body: `berth egress: ${where} could not be resolved (no addresses)` };
      }
    }

    const own = this.opts.ownEndpoints?.() ?? [];
    if (own.some((e) => e.port === t.port)) {
      const local = new Set((this.opts.localAddresses?.() ?? interfaceAddresses()).map(canonicalAddress));
      for (const a of addresses) {
        const kind = classifyAddress(a);
        if (kind === "loopback" || kind === "unspecified" || local.has(canonicalAddress(a)) || own.some((e) => canonicalAddress(e.host) === canonicalAddress(a)))
          return refuse(`berth's own endpoint ${hostPort(a, t.port)}`, "berth_endpoint", a);
      }
    }
    for (const a of addresses) {
      const kind = classifyAddress(a);
      // Cloud metadata endpoints hand out credentials: refused even when private ranges are allowed.
      if (kind && (!allowPrivate || kind === "cloud metadata"))
        return refuse(literal ? `${kind} address` : `resolves to ${kind} address ${a}`, kind === "cloud metadata" ? "metadata_address" : "private_address", a);
    }
    this.emit({ host: t.host, port: t.port, allowed: true, reason: m.reason, method, address: addresses[0] });
    return { ok: true, addresses };
  }

  /** Step 3: connect to the vetted addresses in order, never to the name. */
  private async connectUpstream(addresses: string[], port: number, deadline: number): Promise<net.Socket> {
    let last: unknown = new Error("no address");
    for (const address of addresses) {
      if (this.closed) throw new Error("proxy closed");
      try {
        return await this.connectOne(address, port, deadline);
      } catch (e) {
        if (e instanceof DeadlineError) throw e;
        last = e;
      }
    }
    throw last;
  }

  private connectOne(address: string, port: number, deadline: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: address, port });
      this.track(s);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new DeadlineError());
      }, Math.max(0, deadline - Date.now()));
      const onError = (e: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(e);
      };
      const onClose = () => onError(new Error("closed before connecting"));
      s.once("error", onError);
      s.once("close", onClose);
      s.once("connect", () => {
        clearTimeout(timer);
        s.off("error", onError);
        s.off("close", onClose);
        s.on("error", () => s.destroy());
        resolve(s);
      });
    });
  }

  private failConnect(where: string, e: unknown): { status: number; body: string } {
    if (e instanceof DeadlineError) return { status: 504, body: `berth egress: ${where} did not connect within ${seconds(this.timeoutMs)}` };
    const why = (e as NodeJS.ErrnoException)?.code ?? (e instanceof Error ? e.message : String(e));
    return { status: 502, body: `berth egress: could not connect to ${where} (${why})` };
  }

  private async onConnect(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    client.on("error", () => client.destroy());
    const t = parseAuthority(req.url ?? "");
    if (!t) {
      client.end(rawResponse(400, `berth egress: bad CONNECT target ${JSON.stringify(req.url ?? "")} (expected host:port)`));
      return;
    }
    // Until the tunnel is up, hold what the client sends early (forwarded once connected)
    // and watch for it hanging up, so an abandoned CONNECT never reaches the upstream.
    const early: Buffer[] = head.length > 0 ? [head] : [];
    let earlyBytes = head.length;
    const onEarly = (d: Buffer) => {
      early.push(d);
      earlyBytes += d.length;
      if (earlyBytes > EARLY_LIMIT) client.pause();
    };
    const onEarlyEnd = () => client.destroy();
    client.on("data", onEarly);
    client.on("end", onEarlyEnd);
    const v = await this.vet("CONNECT", t, deadline);
    if (!v.ok) {
      if (!client.destroyed) client.end(rawResponse(v.status, v.body, v.code));
      return;
    }
    if (client.destroyed || this.closed) return;
    let upstream: net.Socket;
    try {
      upstream = await this.connectUpstream(v.addresses, t.port, deadline);
    } catch (e) {
      const f = this.failConnect(hostPort(t.host, t.port), e);
      if (!client.destroyed) client.end(rawResponse(f.status, f.body));
      return;
    }
    if (client.destroyed || this.closed) {
      upstream.destroy();
      return;
    }
    // No timeouts from here on: an idle tunnel is the endpoints' business.
    if (client instanceof net.Socket) client.setTimeout(0);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", kill);
    upstream.on("error", kill);
    client.on("close", () => upstream.destroy());
    upstream.on("close", (hadError) => (hadError ? client.destroy() : client.end()));
    client.off("data", onEarly);
    client.off("end", onEarlyEnd);
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    for (const d of early) upstream.write(d);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    let gone = false;
    res.on("close", () => (gone = true));
    req.on("error", () => res.destroy());
    const raw = req.url ?? "";
    let url: URL | undefined;
    try {
      if (/^http:\/\//i.test(raw)) url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (!url) {
      const why = /^https:\/\//i.test(raw) ? "use CONNECT for https" : "expected an absolute http:// URL; this is a forward proxy";
      sendText(res, 400, `berth egress: bad request target (${why})`);
      return;
    }
    const n = normalizeHost(url.hostname);
    const port = url.port ? Number(url.port) : 80;
    if (!n) {
      sendText(res, 400, `berth egress: bad host ${JSON.stringify(url.hostname)}`);
      return;
    }
    const t: Target = { host: n.host, port };
    const method = req.method ?? "GET";
    const v = await this.vet(method, t, deadline);
    if (!v.ok) {
      sendText(res, v.status, v.body, v.code);
      return;
    }
    if (gone || this.closed) return;
    let sock: net.Socket;
    try {
      sock = await this.connectUpstream(v.addresses, port, deadline);
    } catch (e) {
      const f = this.failConnect(hostPort(t.host, t.port), e);
      sendText(res, f.status, f.body);
      return;
    }
    if (gone || this.closed) {
      sock.destroy();
      return;
    }
    const headers = filterHeaders(req.headers);
    headers.host = url.host; // RFC 9112 §3.2.2: the request target's authority wins
    const up = http.request({
      method,
      path: `${url.pathname}${url.search}`,
      headers,
      setHost: false,
      createConnection: () => sock,
    });
    up.on("error", (e) => {
      sock.destroy();
      if (res.headersSent) res.destroy();
      else sendText(res, 502, `berth egress: upstream ${hostPort(t.host, t.port)} failed (${(e as NodeJS.ErrnoException).code ?? e.message})`);
    });
    up.on("response", (upRes) => {
      upRes.on("error", () => res.destroy());
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, filterHeaders(upRes.headers));
      upRes.pipe(res);
    });
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
      sock.destroy();
    });
    req.pipe(up);
  }
}
