// A session's egress allowlist: what its entries may say, and whether a host:port matches.
import net from "node:net";

export interface EgressPolicy {
  /** "example.com" (exact), "*.example.com" (any subdomain, not the apex), optional ":port" suffix on either (default ports 80 and 443 only). */
  allow: string[];
  /** Let allowed names resolve to loopback/private/link-local addresses (default false). Cloud metadata stays refused. */
  allowPrivateAddresses?: boolean;
}

export interface EgressDecision {
  /** The host as requested, normalized (lower case, no trailing dot, IPv6 without brackets). */
  host: string;
  port: number;
  allowed: boolean;
  reason: string;
  /** "CONNECT" or the forwarded HTTP method. */
  method: string;
  /** Allowed: the vetted address the proxy connects to (first choice). Refused for an address: the offending one. */
  address?: string;
}

/** One parsed allowlist entry. `host` is normalized; IP rules match only that exact IP literal. */
export interface EgressRule {
  entry: string;
  host: string;
  wildcard: boolean;
  ip: boolean;
  /** Absent: ports 80 and 443. */
  port?: number;
}

const DEFAULT_PORTS = [80, 443];

interface NormalHost {
  host: string;
  /** 0 for a name, 4 or 6 for an IP literal. */
  ip: 0 | 4 | 6;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Normalizes a host as it appears in a request or an allowlist entry (no port): lower case,
 * IDN to punycode, one trailing dot dropped, IPv4 in its WHATWG forms ("0x7f.1",
 * "2130706433") to dotted decimal, IPv6 (bare or in brackets) to its canonical text.
 * Undefined when it is not a valid host name or IP literal.
 */
export function normalizeHost(raw: string): NormalHost | undefined {
  let h = raw;
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.includes(":")) {
    if (!net.isIPv6(h) || h.includes("%")) return undefined;
    try {
      return { host: new URL(`http://[${h}]/`).hostname.slice(1, -1), ip: 6 };
    } catch {
      return undefined;
    }
  }
  if (h === "" || /[/?#@\\%\s[\]]/.test(h)) return undefined;
  let name: string;
  try {
    name = new URL(`http://${h}/`).hostname;
  } catch {
    return undefined;
  }
  if (net.isIPv4(name)) return { host: name, ip: 4 };
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name === "" || name.length > 253 || !name.split(".").every((l) => LABEL.test(l))) return undefined;
  return { host: name, ip: 0 };
}

function entryError(entry: string, why: string): Error {
  return new Error(`invalid egress allow entry ${JSON.stringify(entry)}: ${why}`);
}

function parseEntry(raw: unknown): EgressRule {
  if (typeof raw !== "string") throw new Error(`invalid egress allow entry ${JSON.stringify(raw)}: expected a string`);
  const e = raw.trim();
  if (e === "") throw new Error("invalid egress allow entry: it is empty (expected a host such as \"example.com\")");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(e) || e.includes("://")) {
    throw entryError(raw, 'remove the scheme; entries are hosts like "example.com" or "example.com:8443"');
  }
  if (/[/?#]/.test(e)) throw entryError(raw, 'remove the path; entries are hosts like "example.com", the policy applies to whole hosts');
  if (e.includes("@")) throw entryError(raw, "remove the user info; entries are hosts");

  let hostPart = e;
  let portText: string | undefined;
  if (e.startsWith("[")) {
    const end = e.indexOf("]");
    if (end < 0) throw entryError(raw, 'unclosed "[" in an IPv6 address');
    hostPart = e.slice(0, end + 1);
    const rest = e.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw entryError(raw, 'expected ":port" after "]"');
      portText = rest.slice(1);
    }
  } else if (!net.isIPv6(e)) {
    const colon = e.lastIndexOf(":");
    if (colon >= 0) {
      hostPart = e.slice(0, colon);
      portText = e.slice(colon + 1);
      if (hostPart.includes(":")) throw entryError(raw, 'write an IPv6 address with a port as "[addr]:port"');
    }
  }

  let port: number | undefined;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw entryError(raw, `bad port ${JSON.stringify(portText)} (expected 1-65535)`);
  }

  if (hostPart.includes("*")) {
    if (!hostPart.startsWith("*.") || hostPart.indexOf("*", 1) >= 0) {
      throw entryError(raw, 'a wildcard must be a single leading "*." as in "*.example.com"');
    }
    const base = normalizeHost(hostPart.slice(2));
    if (!base) throw entryError(raw, `${JSON.stringify(hostPart.slice(2))} is not a valid host name`);
    if (base.ip) throw entryError(raw, "a wildcard cannot apply to an IP address");
    return { entry: e, host: base.host, wildcard: true, ip: false, port };
  }
  const n = normalizeHost(hostPart);
  if (!n) throw entryError(raw, `${JSON.stringify(hostPart)} is not a valid host name or IP address`);
  return { entry: e, host: n.host, wildcard: false, ip: n.ip !== 0, port };
}

/** Validates and parses an allowlist; throws an Error naming the first malformed entry. */
export function parsePolicy(allow: string[]): EgressRule[] {
  if (!Array.isArray(allow)) throw new Error("egress policy: allow must be an array of host patterns");
  return allow.map(parseEntry);
}

/**
 * Step 1 of the decision: does the (normalized) host and port match a rule? Wildcards never
 * match the apex or an IP literal; IP literals match only an identical IP rule.
 */
export function matchRules(rules: readonly EgressRule[], host: string, port: number): { allowed: boolean; reason: string } {
  const isIp = net.isIP(host) !== 0;
  let hostMatched = false;
  for (const r of rules) {
    const ok = r.wildcard ? !isIp && host.endsWith(`.${r.host}`) : host === r.host;
    if (!ok) continue;
    hostMatched = true;
    if (r.port === undefined ? DEFAULT_PORTS.includes(port) : port === r.port) return { allowed: true, reason: `allowed by "${r.entry}"` };
  }
  return hostMatched
    ? { allowed: false, reason: `port ${port} is not allowed for this host` }
    : { allowed: false, reason: "host is not in the allowlist" };
}

// ---------------------------------------------------------------------------------------
// Address classes
