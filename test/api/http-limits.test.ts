import { describe, expect, it } from "vitest";
import { HTTP_LIMIT_DEFAULTS, httpLimits, serverOptions } from "../../src/api/http-limits.js";
import { ConfigError } from "../../src/config/config.js";
import { parseEnv } from "../../src/config/env.js";

const httpLimitsFromEnv = (env: NodeJS.ProcessEnv) => httpLimits(parseEnv(env));

describe("httpLimits", () => {
  it("has finite defaults: no timeout is 0 (Node's 'never')", () => {
    const l = httpLimitsFromEnv({});
    expect(l).toEqual(HTTP_LIMIT_DEFAULTS);
    const o = serverOptions(l);
    for (const v of [o.requestTimeout, o.keepAliveTimeout, o.http.headersTimeout, o.http.requestTimeout, o.http.connectionsCheckingInterval]) expect(v).toBeGreaterThan(0);
    expect(o.http.headersTimeout).toBeLessThanOrEqual(o.http.requestTimeout);
  });

  it("reads each variable and refuses 0, negatives, non-integers and a headers timeout above the request timeout", () => {
    expect(httpLimitsFromEnv({ BERTH_HTTP_HEADERS_TIMEOUT_MS: "500", BERTH_HTTP_MAX_CONNECTIONS: "7" })).toMatchObject({ headersTimeoutMs: 500, maxConnections: 7 });
    for (const bad of ["0", "-1", "1.5", "1e3", "ten", "99999999999999999999"])
      expect(() => httpLimitsFromEnv({ BERTH_HTTP_KEEPALIVE_TIMEOUT_MS: bad })).toThrow(ConfigError);
    expect(() => httpLimitsFromEnv({ BERTH_HTTP_HEADERS_TIMEOUT_MS: "5000", BERTH_HTTP_REQUEST_TIMEOUT_MS: "1000" })).toThrow(/must not exceed/);
  });
});
