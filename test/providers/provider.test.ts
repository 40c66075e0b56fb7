import { describe, expect, it } from "vitest";
import { matchesModel, priceFor, servesModel, toProvider } from "../../src/providers/provider.js";

const provider = toProvider(
  {
    id: "p",
    api: "anthropic-messages",
    baseUrl: "https://p.example.test/api/",
    auth: { header: "Authorization", secret: "P_KEY" },
    models: ["claude-*", "exact"],
    aliases: { fast: "claude-haiku-4-5" },
    prices: { "claude-haiku-4-5": { input: 1, output: 5 }, fast: { input: 9, output: 9 }, "claude-*": { input: 3, output: 15 } },
    headers: { "X-Team": "a" },
  },
  "file.yaml",
  "system",
);

describe("provider", () => {
  it("settles the base URL, header names and the auth scheme", () => {
    expect(provider.baseUrl).toBe("https://p.example.test/api");
    expect(provider.headers).toEqual({ "x-team": "a" });
    expect(provider.auth).toEqual({ header: "authorization", scheme: "Bearer", secret: "P_KEY" });
    expect(provider.apis).toEqual(["anthropic-messages"]);
  });

  it("serves exact names, globs and aliases", () => {
    expect(matchesModel(["a.b*"], "a.b-1")).toBe(true);
    expect(matchesModel(["a.b*"], "axb")).toBe(false);
    expect(servesModel(provider, "exact")).toBe(true);
    expect(servesModel(provider, "claude-sonnet-4-5")).toBe(true);
    expect(servesModel(provider, "fast")).toBe(true);
    expect(servesModel(provider, "exactly")).toBe(false);
  });

  it("prices the upstream model first, then the name asked for, then a glob", () => {
    expect(priceFor(provider, "claude-haiku-4-5", "fast")).toMatchObject({ input: 1 });
    expect(priceFor(provider, "claude-opus-4-1", "claude-opus-4-1")).toMatchObject({ input: 3 });
    expect(priceFor(provider, "exact", "exact")).toBeUndefined();
  });
});
