import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { ConfigError } from "../config/config.js";

// DNS rebinding: a web page on attacker.example re-resolves its name to 127.0.0.1 and the
// browser then reads berth's unauthenticated routes (/metrics, /openapi.json) as same-origin.
// The Host header still says attacker.example, so berth answers only the names it is
// reachable by: those of the address it is bound to, and ones the operator lists.

const isLoopbackV4 = (h: string) => isIP(h) === 4 && h.startsWith("127.");
const WILDCARDS = new Set(["0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);

export function isLoopbackBind(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || isLoopbackV4(h);
}

/** The name in a Host header, lower-cased, without port, brackets or a trailing dot; undefined if malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim().toLowerCase();
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h) ?? /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return undefined;
  const name = m[1]!.replace(/\.$/, "");
  return name || undefined;
}

/** A parsed BERTH_ALLOWED_HOSTS: exact names and addresses, or *.suffix. */
export function parseAllowedHosts(raw: string | undefined): string[] {
  if (!raw) return [];
  return raw
    .split(",")
    .map((s) => s.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1"))
    .filter(Boolean)
    .map((s) => {
      if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(s) && isIP(s) !== 6)
        throw new ConfigError(`BERTH_ALLOWED_HOSTS: '${s}' is not a host name or address; list names like berth.example.com or *.example.com, comma-separated`);
      return s;
    });
}

/**
 * Which Host names to answer: bound to loopback, loopback names and addresses; bound to one
 * address, that address; bound to a wildcard, every local interface address (loopback
 * included); plus the operator's BERTH_ALLOWED_HOSTS.
 */
export function hostAllowlist(bindHost: string, allowed: string[] = []): (header: string | undefined) => boolean {
  const bind = bindHost.toLowerCase().replace(/^\[|\]$/g, "");
  const exact = new Set<string>();
  let loopback = false;
  if (isLoopbackBind(bind)) loopback = true;
  else if (WILDCARDS.has(bind)) {
    loopback = true;
    for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) exact.add(a.address.toLowerCase().replace(/%.*$/, ""));
  } else exact.add(bind);
  const suffixes: string[] = [];
  for (const a of allowed) {
    if (a.startsWith("*.")) suffixes.push(a.slice(1));
    else exact.add(a);
  }
  return (header) => {
    const name = hostName(header);
    if (!name) return false;
    if (exact.has(name)) return true;
    if (loopback && (name === "localhost" || name === "::1" || isLoopbackV4(name))) return true;
    return suffixes.some((s) => name.endsWith(s) && name.length > s.length);
  };
}

/** The warning to give when the API is reachable off this machine without TLS in front; undefined if none. */
export function exposureWarning(bindHost: string, publicUrl: string | undefined): string | undefined {
  if (isLoopbackBind(bindHost.replace(/^\[|\]$/g, ""))) return undefined;
  if (publicUrl?.toLowerCase().startsWith("https://")) return undefined;
  return `the API is bound to ${bindHost}, off this machine, without TLS: the bearer token and every prompt cross the network in clear text; put an HTTPS reverse proxy in front and set BERTH_PUBLIC_URL=https://..., or bind 127.0.0.1`;
}
