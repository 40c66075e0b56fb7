import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, resolve as resolvePath, sep } from "node:path";
import { parseDocument } from "yaml";
import { type z } from "zod";
import type { ModelApi } from "../harnesses/types.js";
import { BerthError } from "../util/errors.js";
import { BUILTIN_PROVIDERS, mockProviderInput, MOCK_PROVIDER_ID } from "./builtins.js";
import { fileSchema, MODEL_APIS, type providerSchema, type Price, type ProviderInput } from "./schema.js";
import { resolveSecret, secretHowTo, secretPresent, SecretFileError, type ResolvedSecret } from "./secrets.js";

// The provider registry (docs/design.md, decision 5): layered YAML, first match wins, in this
// order: the file named by $BERTH_PROVIDERS, the system file, the workspace file (only
// when the server allows workspace overrides), the built-ins. A higher layer that defines
// a provider id replaces that id's lower definitions whole. Resolution never falls back:
// an unknown model, a missing secret or a wire-API mismatch is an error that says what
// was searched and how to fix it.

export { MODEL_APIS, type Price, type ProviderInput };
export const DEFAULT_SYSTEM_FILE = "/etc/berth/providers.yaml";
export const WORKSPACE_FILE = join(".berth", "providers.yaml");
export const BUILTIN_SOURCE = "built-in";

// --- public types ----------------------------------------------------------------


export interface ResolvedRoute {
  provider: string;
  api: ModelApi;
  baseUrl: string;
  /** The model name sent upstream (after alias). */
  model: string;
  /** The model name asked for. */
  requestedModel: string;
  /**
   * The credential header and its value. NOT enumerable: JSON.stringify(route), a log
   * line or an event built by spreading the route never carries it. Read `route.auth`
   * directly; don't copy the route with `{...route}` before handing it to the gateway.
   */
  auth?: { header: string; value: string };
  /** Which secret, and where it came from ("$ZAI_API_KEY", "per-session secret"): never the value. */
  secret?: { name: string; from: ResolvedSecret["from"]; where: string; scheme: string };
  /**
   * The live secret strings of this route (the raw secret and the header value), for the
   * redactor. NOT enumerable, like `auth`.
   */
  liveSecrets?: string[];
  headers: Record<string, string>;
  price?: Price;
  /** The providers file the provider came from, or "built-in". */
  source: string;
}

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

export type ProviderLayer = "env" | "system" | "workspace" | "built-in";

export interface SearchedFile {
  path: string;
  layer: ProviderLayer;
  used: boolean;
  reason?: string;
}

export type ResolutionCode = "unknown_model" | "unknown_provider" | "missing_secret" | "api_mismatch" | "provider_unavailable" | "secret_not_allowed";

/** A model that cannot be routed. `code` is for machines; the message says what was searched and what to do. */
export class ProviderResolutionError extends BerthError {
  constructor(
    override readonly code: ResolutionCode,
    message: string,
    readonly details: { model: string; provider?: string; secret?: string; searched: string[] },
  ) {
    super(400, code, message);
    this.name = "ProviderResolutionError";
  }
}

/** A providers file that cannot be used: names the file and, for schema errors, the field. */
export class ProviderConfigError extends BerthError {
  constructor(
    readonly file: string,
    readonly field: string | undefined,
    detail: string,
    /** A workspace file is the client's doing (400); the operator's files are the server's (500). */
    clientFault = false,
  ) {
    super(clientFault ? 400 : 500, "provider_config_invalid", `${file}: ${field ? `${field}: ` : ""}${detail}`);
    this.name = "ProviderConfigError";
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** The system file; default /etc/berth/providers.yaml. */
  systemFile?: string;
  /** The session's workspace; its .berth/providers.yaml is a layer only with allowWorkspace. */
  workspace?: string;
  allowWorkspace?: boolean;
  /** Base URL of berth's running mock model, for the built-in `mock` provider. */
  mockUrl?: string;
}

export interface ResolveOptions {
  /** The harness's wire API: the provider must speak it. */
  api?: ModelApi;
  /** Pick this provider id (required for explicit-only providers such as anthropic-oauth). */
  provider?: string;
  /** Per-session secrets (memory only); they win over berth's environment. */
  secrets?: ReadonlyMap<string, string>;
}

// --- internals -------------------------------------------------------------------

interface Provider {
  id: string;
  api: ModelApi;
  apis: ModelApi[];
  baseUrl?: string;
  auth?: { header: string; scheme: string; secret: string };
  models: string[];
  aliases: Map<string, string>;
  headers: Record<string, string>;
  prices: Map<string, Price>;
  explicitOnly: boolean;
  source: string;
  layer: ProviderLayer;
}

function globRe(p: string): RegExp {
  return new RegExp("^" + p.split("*").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
}

/** Exact names, or globs where `*` matches any run of characters (usually a trailing `*`). */
function matches(patterns: string[], model: string): boolean {
  return patterns.some((p) => (p.includes("*") ? globRe(p).test(model) : p === model));
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, "");
}

function fieldOf(path: PropertyKey[], raw: unknown): string {
  let out = "";
  let node: any = raw;
  for (const k of path) {
    if (typeof k === "number") {
      out += `[${k}]`;
      node = node?.[k];
      if (typeof node?.id === "string") out += ` (id '${node.id}')`;
    } else {
      out += out ? `.${String(k)}` : String(k);
      node = node?.[k as any];
    }
  }
  return out || "(top level)";
}

function normalize(p: z.infer<typeof providerSchema>, source: string, layer: ProviderLayer): Provider {
  const auth =
    p.auth === "none"
      ? undefined
      : {
          header: p.auth.header.toLowerCase(),
          scheme: p.auth.scheme ?? (p.auth.header.toLowerCase() === "authorization" ? "Bearer" : ""),
          secret: p.auth.secret,
        };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    id: p.id,
    api: p.api,
    apis: [...new Set([p.api, ...(p.apis ?? [])])],
    baseUrl: trimSlash(p.baseUrl),
    auth,
    models: p.models,
    aliases: new Map(Object.entries(p.aliases ?? {})),
    headers,
    prices: new Map(Object.entries(p.prices ?? {})),
    explicitOnly: p.explicitOnly ?? false,
    source,
    layer,
  };
}

/** Validates parsed YAML (or built-in entries) into providers; throws ProviderConfigError naming the field. */
function validate(raw: unknown, source: string, layer: ProviderLayer): Provider[] {
  if (raw === null || raw === undefined) return []; // an empty file defines nothing
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    let issue = r.error.issues[0]!;
    // A union (auth) that failed inside its object branch: report that branch's field.
    if (issue.code === "invalid_union") {
      const branch = issue.errors.find((b) => b.length > 0 && b.every((i) => i.path.length > 0));
      if (branch) issue = { ...branch[0]!, path: [...issue.path, ...branch[0]!.path] };
    }
    const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem${r.error.issues.length > 2 ? "s" : ""})` : "";
    throw new ProviderConfigError(source, fieldOf(issue.path, raw), issue.message + more, layer === "workspace");
  }
  const seen = new Set<string>();
  return r.data.providers.map((p, i) => {
    if (seen.has(p.id)) throw new ProviderConfigError(source, `providers[${i}].id`, `provider id '${p.id}' is defined twice in this file`, layer === "workspace");
    seen.add(p.id);
    return normalize(p, source, layer);
  });
}

function readLayer(path: string, layer: ProviderLayer): Provider[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ProviderConfigError(path, undefined, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, layer === "workspace");
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : undefined;
    const msg = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new ProviderConfigError(path, where, `invalid YAML: ${msg}`, layer === "workspace");
  }
  return validate(doc.toJS(), path, layer);
}

// --- the registry ----------------------------------------------------------------

const BASE_URL_ENV: Record<string, string> = {
  anthropic: "ANTHROPIC_BASE_URL",
  "anthropic-oauth": "ANTHROPIC_BASE_URL",
  openai: "OPENAI_BASE_URL",
  google: "GOOGLE_GEMINI_BASE_URL",
};

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
    const files: SearchedFile[] = [];
    const layers: Provider[][] = [];

    const envFile = env.BERTH_PROVIDERS;
    if (!envFile) files.push({ path: "$BERTH_PROVIDERS", layer: "env", used: false, reason: "unset" });
    else {
      const path = resolvePath(envFile);
      // The operator named it: a missing file is a mistake, not an absence.
      if (!existsSync(path)) throw new ProviderConfigError(path, undefined, "named by $BERTH_PROVIDERS but does not exist");
      layers.push(readLayer(path, "env"));
      files.push({ path, layer: "env", used: true });
    }

    const systemFile = opts.systemFile ?? DEFAULT_SYSTEM_FILE;
    if (existsSync(systemFile)) {
      layers.push(readLayer(systemFile, "system"));
      files.push({ path: systemFile, layer: "system", used: true });
    } else files.push({ path: systemFile, layer: "system", used: false, reason: "not found" });

    if (opts.workspace) {
      const path = join(opts.workspace, WORKSPACE_FILE);
      if (!opts.allowWorkspace) files.push({ path, layer: "workspace", used: false, reason: "workspace overrides off" });
      else if (!existsSync(path)) files.push({ path, layer: "workspace", used: false, reason: "not found" });
      else {
        // The agent controls the workspace: its file must really be inside it, not a
        // symlink to something of the server's that an error message would quote.
        const real = realpathSync(path);
        if (!real.startsWith(realpathSync(opts.workspace) + sep) || !statSync(real).isFile())
          throw new ProviderConfigError(path, undefined, "must be a regular file inside the workspace (not a symlink out of it)", true);
        layers.push(readLayer(path, "workspace"));
        files.push({ path, layer: "workspace", used: true });
      }
    }

    const builtins = validate({ providers: BUILTIN_PROVIDERS }, BUILTIN_SOURCE, "built-in");
    // The vendors' own base-URL variables still move their built-in (proxies, regional
    // endpoints, test doubles); a providers file is the general way.
    for (const b of builtins) {
      const override = BASE_URL_ENV[b.id] && env[BASE_URL_ENV[b.id]!];
      if (override) b.baseUrl = trimSlash(override);
    }
    const mock = validate({ providers: [mockProviderInput("http://127.0.0.1")] }, BUILTIN_SOURCE, "built-in")[0]!;
    mock.baseUrl = opts.mockUrl ? trimSlash(opts.mockUrl) : undefined;
    layers.push([...builtins, mock]);
    files.push({ path: BUILTIN_SOURCE, layer: "built-in", used: true });

    const effective: Provider[] = [];
    const ids = new Set<string>();
    for (const layer of layers)
      for (const p of layer) {
        if (ids.has(p.id)) continue; // shadowed by a higher layer
        ids.add(p.id);
        effective.push(p);
      }
    return new ProviderRegistry(effective, layers.flat().filter((p) => p.layer !== "workspace"), files, env);
  }

  /** The files searched, in order, then the built-ins. */
  files(): SearchedFile[] {
    return this.searched.map((f) => ({ ...f }));
  }

  /** What was searched, for messages: "$BERTH_PROVIDERS (unset)", "/etc/berth/providers.yaml (not found)", ..., "built-ins". */
  searchedItems(): string[] {
    return this.searched.map((f) =>
      f.layer === "built-in" ? "built-ins" : f.used ? (f.layer === "env" ? `${f.path} ($BERTH_PROVIDERS)` : f.path) : `${f.path} (${f.reason})`,
    );
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
    const searched = this.searchedText();
    const fail = (code: ResolutionCode, message: string, extra: { provider?: string; secret?: string } = {}): never => {
      throw new ProviderResolutionError(code, message, { model, searched: this.searchedItems(), ...extra });
    };

    let candidates: Provider[];
    if (opts.provider !== undefined) {
      const p = this.providers.find((x) => x.id === opts.provider);
      if (!p)
        fail("unknown_provider", `no provider '${opts.provider}'; known: ${this.providers.map((x) => x.id).join(", ")}; searched: ${searched}`, {
          provider: opts.provider,
        });
      candidates = [p!];
    } else candidates = this.providers.filter((p) => !p.explicitOnly);

    const matching = candidates.filter((p) => p.aliases.has(model) || matches(p.models, model));
    if (!matching.length) {
      if (opts.provider !== undefined) {
        const p = candidates[0]!;
        fail("unknown_model", `provider '${p.id}' (${p.source}) does not serve model '${model}'; its models: ${p.models.join(", ")}`, { provider: p.id });
      }
      fail("unknown_model", `no provider matches model '${model}'; searched: ${searched}`);
    }

    const p = opts.api ? matching.find((x) => x.apis.includes(opts.api!)) : matching[0]!;
    if (!p) {
      const first = matching[0]!;
      fail(
        "api_mismatch",
        `model '${model}' is served by provider '${first.id}' (${first.source}), which speaks ${first.apis.join(", ")}, not ${opts.api} (the harness's API); no other provider serves '${model}' over ${opts.api}; searched: ${searched}`,
        { provider: first.id },
      );
    }
    const provider = p!;
    if (!provider.baseUrl)
      fail(
        "provider_unavailable",
        provider.id === MOCK_PROVIDER_ID
          ? `model '${model}' is berth's mock model, which is not running in this server`
          : `provider '${provider.id}' (${provider.source}) has no base URL`,
        { provider: provider.id },
      );

    const api = opts.api ?? provider.api;
    const upstreamModel = provider.aliases.get(model) ?? model;
    const route: ResolvedRoute = {
      provider: provider.id,
      api,
      baseUrl: provider.baseUrl!,
      model: upstreamModel,
      requestedModel: model,
      headers: { ...provider.headers },
      source: provider.source,
    };
    const price =
      provider.prices.get(upstreamModel) ??
      provider.prices.get(model) ??
      [...provider.prices].find(([k]) => k.includes("*") && matches([k], upstreamModel))?.[1];
    if (price) route.price = { ...price };

    if (provider.auth) {
      const { secret: name, header, scheme } = provider.auth;
      const who = `provider '${provider.id}' (${provider.source}) for model '${model}'`;
      let s: ResolvedSecret | undefined;
      try {
        s = resolveSecret(name, { env: this.env, session: opts.secrets });
      } catch (e) {
        if (!(e instanceof SecretFileError)) throw e;
        fail("missing_secret", `${who} needs secret ${name}: ${e.message}; ${secretHowTo(name)}. berth does not fall back to another provider`, {
          provider: provider.id,
          secret: name,
        });
      }
      if (!s) {
        // Not a fallback: say which explicit-only provider could serve it, if its secret is set.
        const alt = this.providers.find(
          (x) =>
            x.explicitOnly &&
            x !== provider &&
            (x.aliases.has(model) || matches(x.models, model)) &&
            (!opts.api || x.apis.includes(opts.api)) &&
            x.auth &&
            secretPresent(x.auth.secret, { env: this.env, session: opts.secrets }),
        );
        const hint = alt ? `; ${alt.auth!.secret} is set, but provider '${alt.id}' is used only when asked for by id` : "";
        fail("missing_secret", `${who} needs secret ${name}, which is not set; ${secretHowTo(name)}. berth does not fall back to another provider${hint}`, {
          provider: provider.id,
          secret: name,
        });
      }
      const secret = s!;
      // A workspace file is writable by the agent: it may use berth's own keys only where
      // the operator's layers or the built-ins already send them.
      if (provider.layer === "workspace" && secret.from !== "session") {
        const vouched = this.trusted.some((t) => t.auth?.secret === name && t.baseUrl === provider.baseUrl);
        if (!vouched)
          fail(
            "secret_not_allowed",
            `${who} would send berth's ${name} to ${provider.baseUrl}, which no operator providers file or built-in does; define this provider in $BERTH_PROVIDERS or ${this.searched.find((f) => f.layer === "system")?.path ?? DEFAULT_SYSTEM_FILE}, or pass ${name} as a per-session secret`,
            { provider: provider.id, secret: name },
          );
      }
      const value = scheme ? `${scheme} ${secret.value}` : secret.value;
      route.secret = { name, from: secret.from, where: secret.where, scheme };
      Object.defineProperty(route, "auth", { value: { header, value }, enumerable: false, writable: false });
      Object.defineProperty(route, "liveSecrets", { value: [...new Set([secret.value, value])], enumerable: false, writable: false });
    }
    return route;
  }
}
