import { describe, expect, it } from "vitest";
import { Redactor } from "../../src/secrets/redact.js";

describe("Redactor", () => {
  it("replaces registered values, longest first, until forgotten", () => {
    const r = new Redactor();
    const forget = r.add("supersecretvalue");
    const forget2 = r.add("supersecretvalue");
    r.add("supersecretvalue-extended");
    expect(r.redact("a supersecretvalue-extended b supersecretvalue")).toBe("a [REDACTED] b [REDACTED]");
    forget();
    expect(r.redact("supersecretvalue")).toBe("[REDACTED]"); // registered twice, forgotten once
    forget2();
    expect(r.redact("supersecretvalue")).toBe("supersecretvalue");
  });

  it("ignores values too short to be secrets", () => {
    const r = new Redactor();
    r.add("abc");
    expect(r.redact("abc abc")).toBe("abc abc");
  });

  it.each([
    ["anthropic", "sk-ant-api03-" + "x".repeat(30)],
    ["openai", "sk-proj-" + "A1b2".repeat(10)],
    ["github", "ghp_" + "a".repeat(36)],
    ["aws", "AKIA" + "ABCDEFGHIJKLMNOP"],
    ["pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"],
  ])("catches %s-shaped credentials it was never told about", (_n, secret) => {
    expect(new Redactor().redact(`x ${secret} y`)).toBe("x [REDACTED] y");
  });

  it("keeps the scheme of bearer headers", () => {
    expect(new Redactor().redact("Authorization: Bearer abcdefghijklmnop123")).toBe("Authorization: Bearer [REDACTED]");
  });

  it("leaves ordinary text alone", () => {
    const text = "sk-short and a skeleton key and Bearer x";
    expect(new Redactor().redact(text)).toBe(text);
  });
});
