import { Command, Option } from "commander";
import type { ModelApi } from "../wire/apis.js";
import { MOCK_PROVIDER_ID } from "../providers/builtins.js";
import {
  MODEL_APIS,
  ProviderConfigError,
  ProviderRegistry,
  ProviderResolutionError,
  type Price,
  type ResolvedRoute,
} from "../providers/registry.js";
import { UsageError } from "./common.js";
import { printTable } from "./table.js";

interface LayerOpts {
  workspace?: string;
  allowWorkspace?: boolean;
  systemFile?: string;
}

/** Registry and provider errors become usage errors: one line on stderr, exit code 2. */
function oneLine(e: unknown): never {
  if (e instanceof ProviderResolutionError || e instanceof ProviderConfigError) throw new UsageError(e.message.replace(/\s*\n\s*/g, " "));
  throw e;
}

function load(o: LayerOpts): ProviderRegistry {
  try {
    return ProviderRegistry.load({ env: process.env, workspace: o.workspace, allowWorkspace: o.allowWorkspace, systemFile: o.systemFile });
  } catch (e) {
    oneLine(e);
  }
}

function withLayerOptions(c: Command): Command {
  return c
    .option("--workspace <dir>", "also consider <dir>/.berth/providers.yaml (with --allow-workspace)")
    .option("--allow-workspace", "let the workspace file take part, as a server with workspace overrides on would")
    .addOption(new Option("--system-file <path>", "system providers file (default /etc/berth/providers.yaml)").hideHelp())
    .option("--json", "print JSON");
}

function priceText(p: Price): string {
  const parts = [`input $${p.input}/M`, `output $${p.output}/M`];
  if (p.cacheRead !== undefined) parts.push(`cache read $${p.cacheRead}/M`);
  if (p.cacheWrite !== undefined) parts.push(`cache write $${p.cacheWrite}/M`);
  return parts.join(", ");
}

function printRoute(r: ResolvedRoute, searched: string): void {
  const rows: [string, string][] = [
    ["model", r.model === r.requestedModel ? r.model : `${r.requestedModel} (alias; '${r.model}' is sent upstream)`],
    ["provider", r.provider],
    ["api", r.api],
    ["base URL", r.baseUrl],
    [
      "auth",
      r.auth && r.secret
        ? `${r.auth.header}: ${r.secret.scheme ? r.secret.scheme + " " : ""}<${r.secret.name}, from ${r.secret.where}>`
        : "none",
    ],
  ];
  for (const [k, v] of Object.entries(r.headers)) rows.push(["header", `${k}: ${v}`]);
  if (r.price) rows.push(["price", priceText(r.price)]);
  rows.push(["source", r.source], ["searched", searched]);
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n") + "\n");
}

export function providersCommand(): Command {
  const cmd = new Command("providers").description(
    "model providers as this machine's berth would see them: $BERTH_PROVIDERS, /etc/berth/providers.yaml, the workspace file, built-ins",
  );

  withLayerOptions(cmd.command("ls").description("list providers in search order, with the secret each needs and whether it is set")).action(
    (o: LayerOpts & { json?: boolean }) => {
      const reg = load(o);
      const rows = reg.list();
      if (o.json) return void process.stdout.write(JSON.stringify({ providers: rows, files: reg.files() }, null, 2) + "\n");
      printTable(
        ["ID", "API", "BASE URL", "MODELS", "SECRET", "SOURCE"],
        rows.map((p) => [
          p.explicitOnly ? `${p.id} (explicit)` : p.id,
          p.apis.join(","),
          p.baseUrl || (p.id === MOCK_PROVIDER_ID ? "(berth's mock, at run time)" : "-"),
          [...p.models, ...Object.entries(p.aliases).map(([a, t]) => `${a}→${t}`)].join(" "),
          p.secret ? `${p.secret} (${p.secretPresent ? "present" : "missing"})` : "-",
          p.source,
        ]),
      );
      process.stdout.write(`searched: ${reg.searchedText()}\n`);
      if (rows.some((p) => p.explicitOnly)) process.stdout.write("(explicit): used only when a session names the provider, never by model match\n");
    },
  );

  withLayerOptions(
    cmd
      .command("resolve")
      .description("show where a model would be routed (never the secret's value); exit 2 if it cannot be")
      .argument("<model>")
      .addOption(new Option("--api <api>", "the harness's wire API").choices([...MODEL_APIS]))
      .option("--provider <id>", "a provider by id (needed for explicit-only providers such as anthropic-oauth)"),
  ).action((model: string, o: LayerOpts & { json?: boolean; api?: ModelApi; provider?: string }) => {
    const reg = load(o);
    let route: ResolvedRoute;
    try {
      route = reg.resolve(model, { api: o.api, provider: o.provider });
    } catch (e) {
      if (e instanceof ProviderResolutionError && e.code === "provider_unavailable" && e.details.provider === MOCK_PROVIDER_ID) {
        // The mock model's address exists only inside a running server.
        if (o.json) return void process.stdout.write(JSON.stringify({ provider: MOCK_PROVIDER_ID, model, source: "built-in" }, null, 2) + "\n");
        return void process.stdout.write(`model     ${model}\nprovider  ${MOCK_PROVIDER_ID} (berth's scripted mock model, served by the berth server; no credential)\nsource    built-in\n`);
      }
      oneLine(e);
    }
    if (o.json)
      return void process.stdout.write(
        JSON.stringify({ ...route, authHeader: route.auth?.header, searched: reg.searchedItems() }, null, 2) + "\n",
      );
    printRoute(route, reg.searchedText());
  });
  return cmd;
}
