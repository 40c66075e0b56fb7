// What kind of address an egress target resolves to: public, or one a sandbox must not reach
// (loopback, private, link-local, CGNAT, cloud metadata; IPv4-mapped, NAT64 and 6to4 forms too).
import net from "node:net";
import { networkInterfaces } from "node:os";

function v4Kind(a: number, b: number, c: number, d: number): string | undefined {
  // All of link-local v4 is metadata: 169.254.169.254 (AWS, GCP, Azure, OpenStack, ...),
  // 169.254.170.2 (ECS task credentials), 169.254.169.123 (time), 169.254.169.253 (DNS).
  if (a === 169 && b === 254) return "cloud metadata";
  if (a === 100 && b === 100 && c === 100 && d === 200) return "cloud metadata"; // Alibaba
  if (a === 168 && b === 63 && c === 129 && d === 16) return "cloud metadata"; // Azure wire server
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 10 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168)) return "private";
  if (a === 100 && (b & 0xc0) === 64) return "shared (CGNAT)";
  if (a >= 224 && a < 240) return "multicast";
  if (a >= 240) return "reserved";
  return undefined;
}

function ipv6Groups(addr: string): number[] | undefined {
  let s = addr;
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    const b = tail.split(".").map(Number);
    if (b.length !== 4) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const halves = s.split("::");
  const part = (p: string | undefined) => (p ? p.split(":").map((h) => parseInt(h, 16)) : []);
  const head = part(halves[0]);
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const rest = part(halves[1]);
  return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
}

function v6Kind(g: number[]): string | undefined {
  const at = (i: number) => g[i] ?? 0;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  const embedded = (hi: number, lo: number) => v4Kind(hi >> 8, hi & 0xff, lo >> 8, lo & 0xff);
  if (zeroUpTo(8)) return "unspecified";
  if (zeroUpTo(7) && at(7) === 1) return "loopback";
  if (zeroUpTo(5) && at(5) === 0xffff) return embedded(at(6), at(7)); // IPv4-mapped
  if (zeroUpTo(6)) return embedded(at(6), at(7)) ?? "reserved"; // IPv4-compatible (deprecated)
  if (at(0) === 0x64 && at(1) === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embedded(at(6), at(7)); // NAT64
  if (at(0) === 0x2002) return embedded(at(1), at(2)); // 6to4
  // AWS's IPv6 service range (fd00:ec2::254 metadata, ::23 ECS task metadata, ::253 DNS, ::123
  // time) and GCP's metadata server (fd20:ce::254).
  if (at(0) === 0xfd00 && at(1) === 0xec2) return "cloud metadata";
  if (at(0) === 0xfd20 && at(1) === 0xce && g.slice(2, 7).every((x) => x === 0) && at(7) === 0x254) return "cloud metadata";
  if ((at(0) & 0xfe00) === 0xfc00) return "private";
  if ((at(0) & 0xffc0) === 0xfe80) return "link-local";
  if ((at(0) & 0xffc0) === 0xfec0) return "private"; // site-local (deprecated)
  if ((at(0) & 0xff00) === 0xff00) return "multicast";
  return undefined;
}

/**
 * The class of an address the proxy will not connect to by default ("loopback", "private",
 * "link-local", "cloud metadata", "shared (CGNAT)", "unspecified", "multicast", "reserved"),
 * looking through IPv4-mapped/compatible, NAT64 and 6to4 forms; undefined for a public
 * address. Throws for something that is not an IP address.
 */
export function classifyAddress(address: string): string | undefined {
  const a = address.split("%")[0] ?? "";
  if (net.isIPv4(a)) {
    const [p, q, r, s] = a.split(".").map(Number) as [number, number, number, number];
    return v4Kind(p, q, r, s);
  }
  const g = net.isIPv6(a) ? ipv6Groups(a) : undefined;
  if (!g || g.length !== 8 || g.some((x) => !(x >= 0 && x <= 0xffff))) throw new Error(`not an IP address: ${address}`);
  return v6Kind(g);
}

/** An address in one spelling: IPv4-mapped IPv6 as IPv4, no zone, IPv6 groups expanded. */
export function canonicalAddress(address: string): string {
  const a = (address.split("%")[0] ?? "").replace(/^\[|\]$/g, "");
  if (net.isIPv4(a)) return a;
  const g = net.isIPv6(a) ? ipv6Groups(a) : undefined;
  if (!g) return a.toLowerCase();
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join(".");
  return g.map((x) => x.toString(16)).join(":");
}

export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}
