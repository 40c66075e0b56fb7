import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { ConfigError } from "../../src/config/errors.js";
import { ENV, parseEnv } from "../../src/config/env.js";

describe("parseEnv", () => {
  it("types what is set, leaves unset and empty values out", () => {
    const env = parseEnv({ PORT: "9000", BERTH_DEFAULT_TIER: "t2", BERTH_ALLOW_HOST_TIER: "yes", BERTH_T1_CPUS: "0.5", BERTH_OCI_MEMORY: "512m", BERTH_MODEL: "", HOME: "/root" });
    expect(env).toEqual({ PORT: 9000, BERTH_DEFAULT_TIER: "container", BERTH_ALLOW_HOST_TIER: true, BERTH_T1_CPUS: 0.5, BERTH_OCI_MEMORY: 512 * 1024 ** 2 });
    expect(parseEnv({})).toEqual({});
    expect(parseEnv({ BERTH_RETENTION_DAYS: "0.5" })).toEqual({ BERTH_RETENTION_DAYS: 0.5 });
  });

  it.each([
    ["BERTH_DEFAULT_TIER", "T9", /BERTH_DEFAULT_TIER="T9" is not a tier: host, process, container, privileged, host-access \(or t0-t4\); fix it or unset it \(default: process\)/],
    ["PORT", "80a", /PORT="80a" is not a whole number of at least 0/],
    ["PORT", "70000", /PORT="70000" is not a whole number of at most 65535/],
    ["BERTH_TURN_TIMEOUT_MS", "500", /at least 1000 \(0 for none\)/],
    ["BERTH_T1_MAX_PROCS", "0", /a whole number of at least 1/],
    ["BERTH_T1_MAX_PROCS", "-1", /a whole number of at least 1/],
    ["BERTH_T1_MAX_FILE_BYTES", "1e3", /a whole number/],
    ["BERTH_T1_MAX_CPU_SECONDS", "99999999999999999999", /at most 9007199254740991/],
    ["BERTH_T1_CPUS", "NaN", /a number of CPUs/],
    ["BERTH_T1_CPUS", "0", /a number of CPUs/],
    ["BERTH_T1_CGROUPS", "maybe", /BERTH_T1_CGROUPS="maybe" is not on or off/],
    ["BERTH_OCI_MEMORY", "lots", /a size/],
    ["BERTH_ALLOW_HOST_TIER", "sure", /1 or 0/],
    ["BERTH_LOG_LEVEL", "loud", /a log level/],
    ["BERTH_PUBLIC_URL", "not a url", /a URL/],
    ["BERTH_DATABASE_URL", "mysql://berth@db/berth", /BERTH_DATABASE_URL=\(not shown\) is not a PostgreSQL URL/],
    ["BERTH_DATABASE_URL", "postgres://", /a PostgreSQL URL/],
    ["BERTH_NODE_ID", "../etc", /a node id/],
    ["BERTH_NODE_ID", "a b", /a node id/],
    ["BERTH_NODE_LEASE_MS", "100", /at least 300/],
    ["BERTH_RETENTION_DAYS", "0", /a number of days/],
    ["BERTH_RETENTION_DAYS", "-1", /a number of days/],
    ["BERTH_RETENTION_DAYS", "30d", /a number of days/],
    ["BERTH_RETENTION_DAYS", "1e9", /a number of days/],
    ["BERTH_RETENTION_DAYS", "99999999", /a number of days/],
  ])("%s=%s stops berth with one line naming it", (name, value, message) => {
    expect(() => parseEnv({ [name]: value })).toThrow(ConfigError);
    expect(() => parseEnv({ [name]: value })).toThrow(message);
  });

  it("never echoes a database URL, whose password is a secret", () => {
    const password = "pw-" + "Sx4".repeat(8);
    expect(() => parseEnv({ BERTH_DATABASE_URL: `postgresql:/berth:${password}@db/berth` })).toThrow(ConfigError);
    try {
      parseEnv({ BERTH_DATABASE_URL: `postgresql:/berth:${password}@db/berth` });
    } catch (e) {
      expect((e as Error).message).not.toContain(password);
    }
  });

  it("never echoes more than the start of a long value", () => {
    const long = "x".repeat(10_000);
    try {
      parseEnv({ PORT: long });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(300);
    }
  });

  it("loadConfig reads the parsed values and keeps them for the parts", () => {
    const c = loadConfig({ home: "/tmp/berth-config-test" }, { BERTH_DEFAULT_TIER: "t1", BERTH_GATEWAY_MAX_CONCURRENT_CALLS: "3", BERTH_HTTP_MAX_CONNECTIONS: "7" });
    expect(c.defaultTier).toBe("process");
    expect(c.gatewayMaxConcurrentCalls).toBe(3);
    expect(c.env.BERTH_HTTP_MAX_CONNECTIONS).toBe(7);
    expect(() => loadConfig({}, { BERTH_DEFAULT_TIER: "nope" })).toThrow(ConfigError);
  });

  it("documents every variable", () => {
    for (const [name, v] of Object.entries(ENV)) expect(v.doc.length, name).toBeGreaterThan(5);
  });
});
