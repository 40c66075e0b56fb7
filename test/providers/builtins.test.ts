import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelGateway, singleRoute } from "../../src/gateway/gateway.js";
import type { ModelApi } from "../../src/wire/apis.js";
import { BUILTIN_PROVIDERS } from "../../src/providers/builtins.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { Redactor } from "../../src/secrets/redact.js";
import { SECRETS, tempDir, writeYaml } from "./helpers.js";

// What each built-in must do upstream: address, credential header and the secret it reads.
const EXPECTED: {
  id: string;
  model: string;
  apis: ModelApi[];
  baseUrl: string;
  header: string;
  value: (s: string) => string;
  secret: keyof typeof SECRETS;
  extraHeaders?: Record<string, string>;
  explicit?: boolean;
}[] = [
  { id: "anthropic", model: "claude-sonnet-4-5", apis: ["anthropic-messages"], baseUrl: "https://api.anthropic.com", header: "x-api-key", value: (s) => s, secret: "ANTHROPIC_API_KEY" },
  {
    id: "anthropic-oauth",
    model: "claude-sonnet-4-5",
    apis: ["anthropic-messages"],
    baseUrl: "https://api.anthropic.com",
    header: "authorization",
    value: (s) => `Bearer ${s}`,
    secret: "CLAUDE_CODE_OAUTH_TOKEN",
    extraHeaders: { "anthropic-beta": "oauth-2025-04-20" },
    explicit: true,
  },
  { id: "openai", model: "gpt-5", apis: ["openai-responses", "openai-chat"], baseUrl: "https://api.openai.com", header: "authorization", value: (s) => `Bearer ${s}`, secret: "OPENAI_API_KEY" },
  {
    id: "openrouter",
    model: "anthropic/claude-sonnet-4",
    apis: ["openai-chat", "anthropic-messages"],
    baseUrl: "https://openrouter.ai/api",
    header: "authorization",
    value: (s) => `Bearer ${s}`,
    secret: "OPENROUTER_API_KEY",
  },
  { id: "minimax", model: "MiniMax-M2", apis: ["anthropic-messages"], baseUrl: "https://api.minimax.io/anthropic", header: "x-api-key", value: (s) => s, secret: "MINIMAX_API_KEY" },
  { id: "zai", model: "glm-4.6", apis: ["anthropic-messages"], baseUrl: "https://api.z.ai/api/anthropic", header: "authorization", value: (s) => `Bearer ${s}`, secret: "ZAI_API_KEY" },
  { id: "moonshot", model: "kimi-k2-0905-preview", apis: ["anthropic-messages"], baseUrl: "https://api.moonshot.ai/anthropic", header: "authorization", value: (s) => `Bearer ${s}`, secret: "MOONSHOT_API_KEY" },
  {
    id: "google",
    model: "gemini-2.5-pro",
    apis: ["google-generative-ai"],
    baseUrl: "https://generativelanguage.googleapis.com",
    header: "x-goog-api-key",
    value: (s) => s,
    secret: "GEMINI_API_KEY",
  },
  { id: "deepseek", model: "deepseek-chat", apis: ["anthropic-messages"], baseUrl: "https://api.deepseek.com/anthropic", header: "x-api-key", value: (s) => s, secret: "DEEPSEEK_API_KEY" },
];

const env = { ...SECRETS };
const noSystem = "/nonexistent/berth/providers.yaml";

describe("built-in providers", () => {
  it("covers every built-in (and nothing else) in this table", () => {
    expect(BUILTIN_PROVIDERS.map((p) => p.id).sort()).toEqual(EXPECTED.map((e) => e.id).sort());
  });

  for (const e of EXPECTED)
    it(`${e.id}: ${e.model} → ${e.baseUrl} with ${e.header}`, () => {
      const reg = ProviderRegistry.load({ env, systemFile: noSystem });
      for (const api of e.apis) {
        const r = reg.resolve(e.model, { api, provider: e.explicit ? e.id : undefined });
        expect(r.provider).toBe(e.id);
        expect(r.api).toBe(api);
        expect(r.baseUrl).toBe(e.baseUrl);
        expect(r.model).toBe(e.model);
        expect(r.source).toBe("built-in");
        expect(r.auth).toEqual({ header: e.header, value: e.value(SECRETS[e.secret]) });
        expect(r.secret).toMatchObject({ name: e.secret, from: "env" });
        expect(r.headers).toEqual(e.extraHeaders ?? {});
        // The credential is not enumerable: serializing the route never carries it.
        expect(JSON.stringify(r)).not.toContain(SECRETS[e.secret]);
        expect(r.liveSecrets).toEqual(expect.arrayContaining([SECRETS[e.secret]]));
      }
    });

  it("mock: models mock-*, every API, no credential, base URL known only at run time", () => {
    const reg = ProviderRegistry.load({ env: {}, systemFile: noSystem, mockUrl: "http://127.0.0.1:9999/" });
    for (const api of ["anthropic-messages", "openai-chat", "openai-responses", "google-generative-ai"] as const) {
      const r = reg.resolve("mock-1", { api });
      expect(r).toMatchObject({ provider: "mock", baseUrl: "http://127.0.0.1:9999", api });
      expect(r.auth).toBeUndefined();
    }
    expect(() => ProviderRegistry.load({ env: {}, systemFile: noSystem }).resolve("mock-1")).toThrow(
      expect.objectContaining({ code: "provider_unavailable" }),
    );
  });

  it("anthropic-oauth is never chosen by model match, even when it is the only Claude credential", () => {
    const reg = ProviderRegistry.load({ env: { CLAUDE_CODE_OAUTH_TOKEN: SECRETS.CLAUDE_CODE_OAUTH_TOKEN }, systemFile: noSystem });
    expect(() => reg.resolve("claude-sonnet-4-5")).toThrow(expect.objectContaining({ code: "missing_secret", details: expect.objectContaining({ provider: "anthropic" }) }));
    expect(reg.resolve("claude-sonnet-4-5", { provider: "anthropic-oauth" }).provider).toBe("anthropic-oauth");
  });
});

// Each built-in, routed through the real gateway to a local stand-in for its address: the
// stand-in is reached by a BERTH_PROVIDERS layer that copies the built-in entry verbatim
// except for the host. No real host is contacted.
describe("built-ins through the gateway", () => {
  let upstream: http.Server;
  let upstreamUrl: string;
  const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        seen.push({ url: req.url!, headers: req.headers });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  // The gateway path a harness speaking each API uses, and what reaches the upstream after the base path.
  const PATHS: Record<ModelApi, (model: string) => [string, string]> = {
    "anthropic-messages": () => ["/anthropic/v1/messages", "/v1/messages"],
    "openai-chat": () => ["/openai/v1/chat/completions", "/v1/chat/completions"],
    "openai-responses": () => ["/openai/v1/responses", "/v1/responses"],
    "google-generative-ai": (m) => [`/google/v1beta/models/${m}:generateContent`, `/v1beta/models/${m}:generateContent`],
  };

  async function roundTrip(reg: ProviderRegistry, model: string, api: ModelApi, provider?: string) {
    const redactor = new Redactor();
    const gw = new ModelGateway({ redactor });
    await gw.start();
    try {
      const token = gw.mint("ses_test", { upstream: singleRoute(reg.resolve(model, { api, provider })) });
      seen.length = 0;
      const res = await fetch(gw.url + PATHS[api](model)[0], {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-beta": "harness-flag" },
        body: JSON.stringify({ model }),
      });
      expect(res.status).toBe(200);
      expect(seen).toHaveLength(1);
      expect(JSON.stringify(seen[0]!.headers)).not.toContain(token);
      return seen[0]!;
    } finally {
      await gw.close();
    }
  }

  for (const e of EXPECTED)
    it(`${e.id}: the upstream receives ${e.header} and the provider's headers`, async () => {
      const dir = tempDir();
      const builtin = BUILTIN_PROVIDERS.find((p) => p.id === e.id)!;
      const path = new URL(builtin.baseUrl).pathname.replace(/\/$/, "");
      const file = writeYaml(join(dir, "providers.yaml"), { providers: [{ ...builtin, baseUrl: upstreamUrl + path }] });
      const reg = ProviderRegistry.load({ env: { ...env, BERTH_PROVIDERS: file }, systemFile: noSystem });
      for (const api of e.apis) {
        const got = await roundTrip(reg, e.model, api, e.explicit ? e.id : undefined);
        expect(got.url).toBe(path + PATHS[api](e.model)[1]);
        expect(got.headers[e.header]).toBe(e.value(SECRETS[e.secret]));
        // No other credential header is sent.
        for (const h of ["authorization", "x-api-key", "x-goog-api-key"]) if (h !== e.header) expect(got.headers[h]).toBeUndefined();
        if (e.extraHeaders?.["anthropic-beta"]) expect(got.headers["anthropic-beta"]).toBe(`harness-flag,${e.extraHeaders["anthropic-beta"]}`);
        else expect(got.headers["anthropic-beta"]).toBe("harness-flag");
      }
    });

  it("mock: no credential reaches it", async () => {
    const reg = ProviderRegistry.load({ env, systemFile: noSystem, mockUrl: upstreamUrl });
    const got = await roundTrip(reg, "mock-1", "anthropic-messages");
    expect(got.url).toBe("/v1/messages");
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers["x-api-key"]).toBeUndefined();
  });
});
