import type { SandboxLayout } from "../sandboxes/types.js";
import type { ModelApi } from "../wire/apis.js";

export interface NpmPackage {
  name: string;
  version: string;
}

export interface LaunchContext {
  layout: SandboxLayout;
  model: string;
  /** Base URL of berth's model gateway for this API, as reachable from inside the sandbox. */
  gatewayUrl: string;
  /** The env var (always set) carrying the per-session gateway token, the only credential the harness gets. */
  tokenEnv: string;
  /** The token itself, for harnesses that must receive it under their own variable name. */
  token: string;
  systemPrompt?: string;
}

export interface LaunchPlan {
  command: string[];
  env: Record<string, string>;
  /** Files to create in the session's private HOME before start (path relative to HOME). */
  homeFiles: { path: string; content: string; mode?: number }[];
  /**
   * Read-only files at absolute paths inside the sandbox, which the agent cannot change:
   * e.g. a harness's managed (enterprise) policy, which outranks anything in the workspace.
   */
  systemFiles?: { path: string; content: string }[];
}

/**
 * One harness: what to install (from the vendor's npm packages, pinned exactly), its
 * license posture, and how to launch its ACP agent routed through berth's gateway.
 */
export interface HarnessSpec {
  id: string;
  name: string;
  /** The harness's own version (its CLI's); names the install directory. */
  version: string;
  packages: NpmPackage[];
  /** SPDX id, or a LicenseRef for proprietary terms. */
  license: string;
  /** May berth (or an operator) bake it into an image it ships? */
  redistributable: boolean;
  /** The harness refuses (or must not) run as root: berth refuses such a session up front. */
  refusesRoot?: boolean;
  /**
   * Does the harness ask the ACP client (session/request_permission) before tools that
   * change things? When it does not, berth's permission policy cannot apply: sessions of
   * it take only `allow`, and the sandbox tier is the boundary.
   */
  asksPermission: boolean;
  /** The model API the harness speaks to the gateway. */
  api: ModelApi;
  /** Authentication paths the harness supports upstream (informational; the gateway holds the credentials). */
  authMethods: string[];
  /**
   * Where the harness reads Agent Skills (folders with SKILL.md) for its user, relative to
   * HOME: a session's skills are mounted there read-only. Absent: the harness has no skills.
   */
  skillsDir?: string;
  launch(ctx: LaunchContext): LaunchPlan;
}
