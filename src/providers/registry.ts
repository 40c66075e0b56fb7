import type { ModelApi } from "../wire/apis.js";
import { MOCK_PROVIDER_ID } from "./builtins.js";
import { addCredentials } from "./credentials.js";
import { ProviderResolutionError, type FailResolution } from "./errors.js";
import { servesModel, type Provider } from "./provider.js";
import { DEFAULT_SYSTEM_FILE, describeSearched, loadProviders, type LoadOptions, type SearchedFile } from "./provider-files.js";
import { routeTo, type ResolvedRoute } from "./route.js";
import { MODEL_APIS, type Price, type ProviderInput } from "./schema.js";
import { resolveSecret, secretPresent } from "./secrets.js";

// The provider registry (docs/design.md, decision 5): the layered providers files
// (provider-files.ts) and the built-ins, searched first match wins. Resolution never falls
// back: an unknown model, a missing secret or a wire-API mismatch is an error that says
// what was searched and how to fix it.

export { MODEL_APIS, type Price, type ProviderInput };
export { ProviderConfigError, ProviderResolutionError, type ResolutionCode } from "./errors.js";
export type { ProviderLayer } from "./provider.js";
export { BUILTIN_SOURCE, DEFAULT_SYSTEM_FILE, WORKSPACE_FILE, type LoadOptions, type SearchedFile } from "./provider-files.js";
export type { ResolvedRoute } from "./route.js";

export interface ProviderListing {
  id: string;
  api: ModelApi;
  apis: ModelApi[];
  /** "" when not known yet (the mock model before it is started). */
  baseUrl: string;
  models: string[];
  aliases: Record<string, string>;
  source: string;
  secret?: string;
  /** True when the secret resolves from berth's environment (or no secret is needed). */
  secretPresent: boolean;
  explicitOnly: boolean;
}

export interface ResolveOptions {
  /** The harness's wire API: the provider must speak it. */
  api?: ModelApi;
  /** Pick this provider id (required for explicit-only providers such as anthropic-oauth). */
  provider?: string;
  /** Per-session secrets (memory only); they win over berth's environment. */
  secrets?: ReadonlyMap<string, string>;
}

export class ProviderRegistry {
  private constructor(
    /** Effective providers in search order (a shadowed id appears once, at its highest layer). */
    private readonly providers: Provider[],
    /** Every provider from the operator's layers and the built-ins, shadowed or not. */
    private readonly trusted: Provider[],
    private readonly searched: SearchedFile[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static load(opts: LoadOptions = {}): ProviderRegistry {
    const env = opts.env ?? process.env;
    const { effective, trusted, searched } = loadProviders(opts, env);
    return new ProviderRegistry(effective, trusted, searched, env);
  }

  /** The files searched, in order, then the built-ins. */
  files(): SearchedFile[] {
    return this.searched.map((f) => ({ ...f }));
  }

  /** What was searched, for messages: "$BERTH_PROVIDERS (unset)", "/etc/berth/providers.yaml (not found)", ..., "built-ins". */
  searchedItems(): string[] {
    return describeSearched(this.searched);
  }

  searchedText(): string {
    return this.searchedItems().join(", ");
  }

  list(opts: { secrets?: ReadonlyMap<string, string> } = {}): ProviderListing[] {
    return this.providers.map((p) => ({
      id: p.id,
      api: p.api,
      apis: [...p.apis],
      baseUrl: p.baseUrl ?? "",
      models: [...p.models],
      aliases: Object.fromEntries(p.aliases),
      source: p.source,
      secret: p.auth?.secret,
      secretPresent: p.auth ? secretPresent(p.auth.secret, { env: this.env, session: opts.secrets }) : true,
      explicitOnly: p.explicitOnly,
    }));
  }

  /**
   * The values of every provider secret that resolves from berth's environment (NAME or
   * NAME_FILE), for the redactor at startup, so a key is redacted before any session uses
   * it. For nothing else.
   */
  valuesForRedaction(): string[] {
    const out = new Set<string>();
    for (const p of this.providers) {
      if (!p.auth) continue;
      try {
        const s = resolveSecret(p.auth.secret, { env: this.env });
        if (s) out.add(s.value);
      } catch {
        /* reported when a session needs it */
      }
    }
    return [...out];
  }

  resolve(model: string, opts: ResolveOptions = {}): ResolvedRoute {
    const fail: FailResolution = (code, message, extra = {}) => {
      throw new ProviderResolutionError(code, message, { model, searched: this.searchedItems(), ...extra });
    };
    const provider = this.pickProvider(this.servingProviders(model, opts.provider, fail), model, opts.api, fail);
    const route = routeTo(provider, this.baseUrlOf(provider, model, fail), model, opts.api ?? provider.api);
    if (provider.auth)
      addCredentials(route, provider, provider.auth, {
        model,
        api: opts.api,
        env: this.env,
        secrets: opts.secrets,
        providers: this.providers,
        trusted: this.trusted,
        systemFile: this.searched.find((f) => f.layer === "system")?.path ?? DEFAULT_SYSTEM_FILE,
        fail,
      });
    return route;
  }

  /** The providers that serve `model`, in search order: the one asked for by id, or every one not explicit-only. */
  private servingProviders(model: string, providerId: string | undefined, fail: FailResolution): Provider[] {
    if (providerId === undefined) {
      const serving = this.providers.filter((p) => !p.explicitOnly && servesModel(p, model));
      if (!serving.length) fail("unknown_model", `no provider matches model '${model}'; searched: ${this.searchedText()}`);
      return serving;
    }
    const asked = this.providers.find((p) => p.id === providerId);
    if (!asked)
      return fail("unknown_provider", `no provider '${providerId}'; known: ${this.providers.map((p) => p.id).join(", ")}; searched: ${this.searchedText()}`, {
        provider: providerId,
      });
    if (!servesModel(asked, model))
      fail("unknown_model", `provider '${asked.id}' (${asked.source}) does not serve model '${model}'; its models: ${asked.models.join(", ")}`, { provider: asked.id });
    return [asked];
  }

  /** The first serving provider that speaks the harness's API (any, without one). */
  private pickProvider(serving: Provider[], model: string, api: ModelApi | undefined, fail: FailResolution): Provider {
    const [first] = serving;
    const picked = api ? serving.find((p) => p.apis.includes(api)) : first;
    if (picked) return picked;
    if (!first) return fail("unknown_model", `no provider matches model '${model}'; searched: ${this.searchedText()}`);
    return fail(
      "api_mismatch",
      `model '${model}' is served by provider '${first.id}' (${first.source}), which speaks ${first.apis.join(", ")}, not ${api} (the harness's API); no other provider serves '${model}' over ${api}; searched: ${this.searchedText()}`,
      { provider: first.id },
    );
  }

  private baseUrlOf(provider: Provider, model: string, fail: FailResolution): string {
    if (provider.baseUrl) return provider.baseUrl;
    return fail(
      "provider_unavailable",
      provider.id === MOCK_PROVIDER_ID
        ? `model '${model}' is berth's mock model, which is not running in this server`
        : `provider '${provider.id}' (${provider.source}) has no base URL`,
      { provider: provider.id },
    );
  }
}
