import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { exposureWarning, hostAllowlist, hostName, parseAllowedHosts } from "../../src/api/host-check.js";
import { ConfigError } from "../../src/config/config.js";

describe("hostName", () => {
  it("takes the name out of a Host header, and nothing out of a malformed one", () => {
    expect(hostName("LocalHost:8765")).toBe("localhost");
    expect(hostName("[::1]:80")).toBe("::1");
    expect(hostName("localhost.")).toBe("localhost");
    for (const bad of [undefined, "", ":80", "a b", "::1", "[::1", "host:port", "host:123456", "evil.example/x", "user@localhost", "localhost\u0000"]) expect(hostName(bad)).toBeUndefined();
  });
});

describe("hostAllowlist", () => {
  const rebinding = ["attacker.example", "attacker.example:8765", "localhost.attacker.example", "127.0.0.1.nip.io", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "0.0.0.0", "", undefined];

  it("bound to loopback: loopback names and addresses only", () => {
    const ok = hostAllowlist("127.0.0.1");
    for (const h of ["localhost", "localhost:1", "127.0.0.1:8765", "127.9.8.7", "[::1]:8765", "LOCALHOST"]) expect(ok(h), h).toBe(true);
    for (const h of rebinding) expect(ok(h), String(h)).toBe(false);
  });

  it("bound to one address: that address; bound to a wildcard: local interface addresses", () => {
    const one = hostAllowlist("10.1.2.3");
    expect(one("10.1.2.3:8765")).toBe(true);
    expect(one("localhost")).toBe(false);
    expect(one("10.1.2.4")).toBe(false);
    const any = hostAllowlist("0.0.0.0");
    const local = Object.values(networkInterfaces()).flatMap((a) => a ?? []).map((a) => (a.family === "IPv6" ? `[${a.address}]` : a.address));
    for (const h of [...local, "localhost"]) expect(any(h), h).toBe(true);
    for (const h of rebinding) expect(any(h), String(h)).toBe(h === "0.0.0.0" && local.includes("0.0.0.0"));
  });

  it("adds the operator's names, exact or *.suffix", () => {
    const ok = hostAllowlist("127.0.0.1", parseAllowedHosts(" berth.example.com, *.corp.example ,[fd00::1]"));
    for (const h of ["berth.example.com", "berth.example.com:443", "a.corp.example", "[fd00::1]"]) expect(ok(h), h).toBe(true);
    for (const h of ["corp.example", "xberth.example.com", "berth.example.com.attacker.example", "acorp.example"]) expect(ok(h), h).toBe(false);
    for (const bad of ["http://x", "a b", "*", "x/y"]) expect(() => parseAllowedHosts(bad)).toThrow(ConfigError);
  });
});

describe("exposureWarning", () => {
  it("warns for a non-loopback bind unless BERTH_PUBLIC_URL is https", () => {
    expect(exposureWarning("127.0.0.1", undefined)).toBeUndefined();
    expect(exposureWarning("::1", undefined)).toBeUndefined();
    expect(exposureWarning("0.0.0.0", undefined)).toMatch(/without TLS/);
    expect(exposureWarning("10.0.0.5", "http://berth.example.com")).toMatch(/without TLS/);
    expect(exposureWarning("0.0.0.0", "https://berth.example.com")).toBeUndefined();
  });
});
