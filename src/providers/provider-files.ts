// The providers files and how they layer (docs/design.md, decision 5): first match wins,
// in this order: the file named by $BERTH_PROVIDERS, the system file, the workspace file
// (only when the server allows workspace overrides), the built-ins. A higher layer that
// defines a provider id replaces that id's lower definitions whole.

import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, resolve as resolvePath, sep } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { BUILTIN_PROVIDERS, MOCK_PROVIDER_ID, mockProviderInput } from "./builtins.js";
import { ProviderConfigError } from "./errors.js";
import { toProvider, trimSlash, type Provider, type ProviderLayer } from "./provider.js";
import { fileSchema } from "./schema.js";

export const DEFAULT_SYSTEM_FILE = "/etc/berth/providers.yaml";
export const WORKSPACE_FILE = join(".berth", "providers.yaml");
export const BUILTIN_SOURCE = "built-in";

export interface SearchedFile {
  path: string;
  layer: ProviderLayer;
  used: boolean;
  reason?: string;
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

export interface LoadedProviders {
  /** Effective providers in search order (a shadowed id appears once, at its highest layer). */
  effective: Provider[];
  /** Every provider from the operator's layers and the built-ins, shadowed or not. */
  trusted: Provider[];
  searched: SearchedFile[];
}

/** The field a schema issue points at, e.g. "providers[1] (id 'zai').auth.secret". */
function fieldOf(path: PropertyKey[], raw: unknown): string {
  let out = "";
  let node: any = raw;
  for (const key of path) {
    if (typeof key === "number") {
      out += `[${key}]`;
      node = node?.[key];
      if (typeof node?.id === "string") out += ` (id '${node.id}')`;
    } else {
      out += out ? `.${String(key)}` : String(key);
      node = node?.[key as any];
    }
  }
  return out || "(top level)";
}

/** The issue to report: the first, or for a union (auth) that failed inside its object branch, that branch's field. */
function issueToReport(issues: z.ZodError["issues"]): { path: PropertyKey[]; message: string } {
  const [first] = issues;
  if (first?.code === "invalid_union") {
    const branch = first.errors.find((b) => b.length > 0 && b.every((i) => i.path.length > 0));
    const inner = branch?.[0];
    if (inner) return { path: [...first.path, ...inner.path], message: inner.message };
  }
  return { path: first?.path ?? [], message: first?.message ?? "invalid" };
}

/** Validates parsed YAML (or built-in entries) into providers; throws ProviderConfigError naming the field. */
function parseProviders(raw: unknown, source: string, layer: ProviderLayer): Provider[] {
  if (raw === null || raw === undefined) return []; // an empty file defines nothing
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const { issues } = parsed.error;
    const issue = issueToReport(issues);
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
    throw new ProviderConfigError(source, fieldOf(issue.path, raw), issue.message + more, layer === "workspace");
  }
  const seen = new Set<string>();
  return parsed.data.providers.map((entry, i) => {
    if (seen.has(entry.id)) throw new ProviderConfigError(source, `providers[${i}].id`, `provider id '${entry.id}' is defined twice in this file`, layer === "workspace");
    seen.add(entry.id);
    return toProvider(entry, source, layer);
  });
}

function readProvidersFile(path: string, layer: ProviderLayer): Provider[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ProviderConfigError(path, undefined, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, layer === "workspace");
  }
  const doc = parseDocument(text, { prettyErrors: true });
  const [yamlError] = doc.errors;
  if (yamlError) {
    const at = yamlError.linePos?.[0];
    const where = at ? `line ${at.line}, column ${at.col}` : undefined;
    const firstLine = yamlError.message.split("\n", 1)[0] ?? "";
    throw new ProviderConfigError(path, where, `invalid YAML: ${firstLine.replace(/ at line \d+, column \d+:?$/, "")}`, layer === "workspace");
  }
  return parseProviders(doc.toJS(), path, layer);
}

/** The vendors' own base-URL variables, which still move their built-in. */
const BASE_URL_ENV: Record<string, string> = {
  anthropic: "ANTHROPIC_BASE_URL",
  "anthropic-oauth": "ANTHROPIC_BASE_URL",
  openai: "OPENAI_BASE_URL",
  google: "GOOGLE_GEMINI_BASE_URL",
};

function builtinProviders(env: NodeJS.ProcessEnv, mockUrl: string | undefined): Provider[] {
  const builtins = parseProviders({ providers: [...BUILTIN_PROVIDERS, mockProviderInput("http://127.0.0.1")] }, BUILTIN_SOURCE, "built-in");
  for (const b of builtins) {
    if (b.id === MOCK_PROVIDER_ID) {
      b.baseUrl = mockUrl ? trimSlash(mockUrl) : undefined;
      continue;
    }
    // Proxies, regional endpoints and test doubles; a providers file is the general way.
    const variable = BASE_URL_ENV[b.id];
    const override = variable && env[variable];
    if (override) b.baseUrl = trimSlash(override);
  }
  return builtins;
}

function workspaceLayer(opts: LoadOptions, workspace: string, files: SearchedFile[], layers: Provider[][]): void {
  const path = join(workspace, WORKSPACE_FILE);
  if (!opts.allowWorkspace) files.push({ path, layer: "workspace", used: false, reason: "workspace overrides off" });
  else if (!existsSync(path)) files.push({ path, layer: "workspace", used: false, reason: "not found" });
  else {
    // The agent controls the workspace: its file must really be inside it, not a
    // symlink to something of the server's that an error message would quote.
    const real = realpathSync(path);
    if (!real.startsWith(realpathSync(workspace) + sep) || !statSync(real).isFile())
      throw new ProviderConfigError(path, undefined, "must be a regular file inside the workspace (not a symlink out of it)", true);
    layers.push(readProvidersFile(path, "workspace"));
    files.push({ path, layer: "workspace", used: true });
  }
}

/** Reads every layer, in search order, and says which files were searched. */
export function loadProviders(opts: LoadOptions, env: NodeJS.ProcessEnv): LoadedProviders {
  const files: SearchedFile[] = [];
  const layers: Provider[][] = [];

  const envFile = env.BERTH_PROVIDERS;
  if (!envFile) files.push({ path: "$BERTH_PROVIDERS", layer: "env", used: false, reason: "unset" });
  else {
    const path = resolvePath(envFile);
    // The operator named it: a missing file is a mistake, not an absence.
    if (!existsSync(path)) throw new ProviderConfigError(path, undefined, "named by $BERTH_PROVIDERS but does not exist");
    layers.push(readProvidersFile(path, "env"));
    files.push({ path, layer: "env", used: true });
  }

  const systemFile = opts.systemFile ?? DEFAULT_SYSTEM_FILE;
  if (existsSync(systemFile)) {
    layers.push(readProvidersFile(systemFile, "system"));
    files.push({ path: systemFile, layer: "system", used: true });
  } else files.push({ path: systemFile, layer: "system", used: false, reason: "not found" });

  if (opts.workspace) workspaceLayer(opts, opts.workspace, files, layers);

  layers.push(builtinProviders(env, opts.mockUrl));
  files.push({ path: BUILTIN_SOURCE, layer: "built-in", used: true });

  const effective: Provider[] = [];
  const ids = new Set<string>();
  for (const layer of layers)
    for (const p of layer) {
      if (ids.has(p.id)) continue; // shadowed by a higher layer
      ids.add(p.id);
      effective.push(p);
    }
  return { effective, trusted: layers.flat().filter((p) => p.layer !== "workspace"), searched: files };
}

/** What was searched, for messages: "$BERTH_PROVIDERS (unset)", "/etc/berth/providers.yaml (not found)", ..., "built-ins". */
export function describeSearched(files: SearchedFile[]): string[] {
  return files.map((f) =>
    f.layer === "built-in" ? "built-ins" : f.used ? (f.layer === "env" ? `${f.path} ($BERTH_PROVIDERS)` : f.path) : `${f.path} (${f.reason})`,
  );
}
