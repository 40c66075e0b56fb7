import { describe, expect, it } from "vitest";
import { matchRules, parsePolicy } from "../../../src/sandboxes/egress/policy.js";

describe("parsePolicy", () => {
  it("parses exact, wildcard, port and IP entries, normalizing case and trailing dots", () => {
    expect(parsePolicy(["Example.COM.", "*.example.org:8443", "10.1.2.3", "[::1]:8080", "::1", "bücher.de"])).toEqual([
      { entry: "Example.COM.", host: "example.com", wildcard: false, ip: false, port: undefined },
      { entry: "*.example.org:8443", host: "example.org", wildcard: true, ip: false, port: 8443 },
      { entry: "10.1.2.3", host: "10.1.2.3", wildcard: false, ip: true, port: undefined },
      { entry: "[::1]:8080", host: "::1", wildcard: false, ip: true, port: 8080 },
      { entry: "::1", host: "::1", wildcard: false, ip: true, port: undefined },
      { entry: "bücher.de", host: "xn--bcher-kva.de", wildcard: false, ip: false, port: undefined },
    ]);
    expect(parsePolicy([])).toEqual([]);
  });

  it.each([
    ["", /empty/],
    ["   ", /empty/],
    ["https://example.com", /remove the scheme/],
    ["http://example.com/", /remove the scheme/],
    ["example.com/v1", /remove the path/],
    ["example.com?x=1", /remove the path/],
    ["user@example.com", /user info/],
    ["example.com:0", /bad port "0"/],
    ["example.com:65536", /bad port "65536"/],
    ["example.com:http", /bad port "http"/],
    ["example.com:", /bad port ""/],
    ["*example.com", /leading "\*\."/],
    ["foo.*.example.com", /leading "\*\."/],
    ["*.*.example.com", /leading "\*\."/],
    ["*", /leading "\*\."/],
    ["*.10.0.0.1", /IP address/],
    ["exa mple.com", /not a valid host/],
    ["-bad-.com", /not a valid host/],
    ["example..com", /not a valid host/],
    ["[::1", /unclosed/],
    ["::1:443x", /write an IPv6 address with a port as "\[addr\]:port"/],
  ])("rejects %j", (entry, msg) => {
    expect(() => parsePolicy([entry])).toThrow(msg);
    expect(() => parsePolicy(["ok.example.com", entry])).toThrow(/invalid egress allow entry/);
  });
});

describe("matchRules", () => {
  const rules = parsePolicy(["example.com", "*.example.org", "api.example.net:8443", "10.0.0.9", "*.ports.test:22"]);
  const allowed = (h: string, port: number) => matchRules(rules, h, port).allowed;

  it("matches exact names on ports 80 and 443 only by default", () => {
    expect(allowed("example.com", 443)).toBe(true);
    expect(allowed("example.com", 80)).toBe(true);
    expect(matchRules(rules, "example.com", 8443)).toEqual({ allowed: false, reason: "port 8443 is not allowed for this host" });
    expect(matchRules(rules, "www.example.com", 443)).toEqual({ allowed: false, reason: "host is not in the allowlist" });
    expect(allowed("notexample.com", 443)).toBe(false);
  });

  it("matches wildcards on any subdomain depth but not the apex", () => {
    expect(allowed("a.example.org", 443)).toBe(true);
    expect(allowed("a.b.example.org", 80)).toBe(true);
    expect(allowed("example.org", 443)).toBe(false);
    expect(allowed("badexample.org", 443)).toBe(false);
    expect(allowed("x.ports.test", 22)).toBe(true);
    expect(allowed("x.ports.test", 443)).toBe(false);
  });

  it("uses an explicit port instead of the defaults", () => {
    expect(allowed("api.example.net", 8443)).toBe(true);
    expect(allowed("api.example.net", 443)).toBe(false);
  });

  it("matches IP literals only when listed exactly", () => {
    expect(allowed("10.0.0.9", 443)).toBe(true);
    expect(allowed("10.0.0.8", 443)).toBe(false);
    expect(matchRules(parsePolicy(["*.0.0.9.example"]), "10.0.0.9", 443).allowed).toBe(false);
  });
});
