import type { BerthConfig } from "../config/config.js";
import { getHarness, HARNESSES } from "../harnesses/registry.js";
import type { HarnessSpec } from "../harnesses/types.js";
import type { ProviderRegistry, ResolvedRoute } from "../providers/registry.js";
import { parsePolicy } from "../sandboxes/egress/policy.js";
import type { SandboxDrivers } from "../sandboxes/index.js";
import { parseTier, type SandboxDriver } from "../sandboxes/types.js";
import { parseGitHosts } from "../secrets/git-credentials-file.js";
import { BerthError, badRequest } from "../util/errors.js";
import { newId } from "../util/ids.js";
import type { BudgetLimits } from "./budget.js";
import type { CreateSessionInput } from "./contract.js";
import { effectiveDeadlines, type DeadlineLimits } from "./deadlines.js";
import type { SessionRecord, SessionSettings } from "./types.js";
import type { WorkspaceGuard } from "./workspace-guard.js";
import { workspaceSource } from "./workspace-source.js";
import { checkSkills } from "./skills.js";

export interface SessionPlanDeps {
  config: Pick<BerthConfig, "defaultTier" | "allowHostTier" | "maxSessionTokens" | "turnDeadlines">;
  drivers: SandboxDrivers;
  defaultModel: string;
  providers: (workspace?: string) => ProviderRegistry;
  workspaces: WorkspaceGuard;
  /** The operator's skills directory (BERTH_SKILLS_DIR), where named skills come from. */
  skillsDir?: string;
}

/** A session that passed every check at creation, with what it will run on. */
export interface PlannedSession {
  record: SessionRecord;
  spec: HarnessSpec;
  driver: SandboxDriver;
  route: ResolvedRoute;
}

/**
 * Checks a create request and decides everything about the session before anything starts:
 * harness, tier and driver, network and git rules, workspace, the model's route (with its
 * secret present), budget and deadlines. A session that would fail later is refused now.
 */
export async function planSession(input: CreateSessionInput, d: SessionPlanDeps): Promise<PlannedSession> {
  const spec = getHarness(input.harness);
  if (!spec) throw badRequest("unknown_harness", `no harness '${input.harness}'; GET /v1/harnesses lists them`);
  const tierName = input.tier ?? d.config.defaultTier;
  const tier = parseTier(tierName);
  if (!tier) throw badRequest("invalid_tier", `unknown tier '${tierName}'; use host, process, container, privileged, host-access (or t0-t4)`);
  if (tier === "host" && !d.config.allowHostTier)
    throw new BerthError(403, "tier_not_allowed", "tier 'host' runs agents unsandboxed and is off; set BERTH_ALLOW_HOST_TIER=1 to allow it (development only)");
  // Every tier but host runs the agent as uid 1000; host runs it as berth's own user.
  if (spec.refusesRoot && tier === "host" && process.getuid?.() === 0)
    throw badRequest("harness_refuses_root", `harness '${spec.id}' does not run as root, and tier 'host' would run it as berth's user (root); use tier 'process' or higher, where it runs as uid 1000`);
  // A policy the harness would never consult must not look enforced.
  if (!spec.asksPermission && (input.permissionPolicy ?? "allow") !== "allow")
    throw badRequest(
      "permission_policy_unsupported",
      `harness '${spec.id}' runs its tools without asking, so permissionPolicy '${input.permissionPolicy}' cannot be enforced; use 'allow' (the sandbox tier is the boundary) or a harness that asks: ${HARNESSES.filter((h) => h.asksPermission).map((h) => h.id).join(", ")}`,
    );
  const driver = d.drivers.forTier(tier);
  if (!driver) throw new BerthError(501, "tier_unavailable", `tier '${tier}' has no sandbox driver in this build`);

  try {
    parsePolicy(input.network?.allow ?? []);
  } catch (e) {
    throw badRequest("invalid_network_policy", (e as Error).message);
  }
  let gitHosts: string[];
  try {
    gitHosts = parseGitHosts(input.git?.hosts ?? []);
  } catch (e) {
    throw badRequest("invalid_git_hosts", (e as Error).message);
  }
  const id = newId("ses");
  const egressAllow = input.network?.allow ?? [];
  const { hostPath, seed } = workspaceSource(input.workspace, { egressAllow });
  const skills = checkSkills(input.skills, { harness: spec.id, ...(spec.skillsDir ? { skillsDir: spec.skillsDir } : {}), ...(d.skillsDir ? { operatorDir: d.skillsDir } : {}) });
  const { workspace, ownsWorkspace } = await d.workspaces.choose(hostPath, tier, id);
  // The model must resolve to exactly one provider with its secret present, now: a
  // session that would fail at its first model call is refused at creation.
  const model = input.model ?? d.defaultModel;
  const secrets = new Map(Object.entries(input.secrets ?? {}));
  const route = d.providers(ownsWorkspace ? undefined : workspace).resolve(model, { api: spec.api, provider: input.provider, secrets });
  const budget = budgetFor(input.budget, d.config.maxSessionTokens);
  // A cost limit that could never be counted would be no limit at all.
  if (budget?.maxCostUsd !== undefined && !route.price)
    throw badRequest(
      "budget_unpriced",
      `budget.maxCostUsd needs a price for model ${model}, and provider ${route.provider} (${route.source}) has none; add one under its prices:, or use budget.maxTokens`,
    );
  const deadlines = effectiveDeadlines(input.deadlines, d.config.turnDeadlines);
  if ("over" in deadlines)
    throw badRequest("deadline_over_limit", `deadlines.${deadlines.over} is above this server's limit of ${deadlines.max} ms (${DEADLINE_ENV[deadlines.over]})`);
  const settings: SessionSettings = {
    systemPrompt: input.systemPrompt,
    permissionPolicy: input.permissionPolicy ?? "allow",
    permissionTimeoutMs: input.permissionTimeoutMs ?? 5 * 60_000,
    mcpServers: input.mcpServers ?? [],
    metadata: input.metadata,
    writablePaths: input.writablePaths,
    provider: input.provider,
    route: route.provider,
    egressAllow,
    egressAllowPrivate: input.network?.allowPrivateAddresses ?? false,
    gitHosts,
    ...(budget && Object.keys(budget).length ? { budget } : {}),
    ...(seed ? { seed } : {}),
    ...(skills.length ? { skills } : {}),
    deadlines: deadlines.limits,
  };
  const now = new Date().toISOString();
  const record: SessionRecord = {
    id,
    harness: spec.id,
    harnessVersion: spec.version,
    model,
    tier,
    workspace,
    ownsWorkspace,
    state: "starting",
    settings,
    acpSessionId: null,
    error: null,
    createdAt: now,
    updatedAt: now,
  };
  return { record, spec, driver, route };
}

/** The session's limits: what it asked for, under the server's token ceiling (which is also the default). */
function budgetFor(asked: BudgetLimits | undefined, cap: number | undefined): BudgetLimits | undefined {
  if (cap === undefined) return asked;
  if (asked?.maxTokens !== undefined && asked.maxTokens > cap)
    throw badRequest("budget_over_limit", `budget.maxTokens ${asked.maxTokens} is above this server's limit of ${cap} tokens per session (BERTH_MAX_SESSION_TOKENS)`);
  return { ...asked, maxTokens: asked?.maxTokens ?? cap };
}

const DEADLINE_ENV: Record<keyof DeadlineLimits, string> = {
  turnMs: "BERTH_TURN_TIMEOUT_MS",
  idleMs: "BERTH_TURN_IDLE_TIMEOUT_MS",
  firstEventMs: "BERTH_TURN_FIRST_EVENT_TIMEOUT_MS",
};
