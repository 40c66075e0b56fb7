import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { NewEvent } from "../events/types.js";
import { agentIds, mkdirForAgent } from "../sandboxes/agent-owner.js";
import type { Tier } from "../sandboxes/types.js";
import { badRequest, conflict } from "../util/errors.js";
import { neutralize, scanProtected, type ProtectedSnapshot } from "./protected-paths.js";
import type { SessionStore } from "./store.js";
import { LIVE_SESSION_STATES, type SessionRecord } from "./types.js";
import { assertAgentWritable, resolveWorkspace, within, type WorkspacePolicy } from "./workspace.js";

export interface WorkspaceGuardDeps {
  store: Pick<SessionStore, "getSession" | "sessionsInStates">;
  policy: WorkspacePolicy;
  /** berth's home: default workspaces, session dirs and quarantine live under it. */
  home: string;
  logger: Logger;
  emit: (sessionId: string, ev: NewEvent) => void;
}

/**
 * A session's workspace rules: which directory it gets, that no other live session shares
 * it, that it is still the same directory when the sandbox binds it, and what the agent
 * planted in its protected paths (hooks, git config, rc files), judged once no agent
 * process is left.
 */
export class WorkspaceGuard {
  constructor(private deps: WorkspaceGuardDeps) {}

  /** The caller's workspace, canonical and checked, or a fresh one berth owns. */
  async choose(asked: string | undefined, tier: Tier, sessionId: string): Promise<{ workspace: string; ownsWorkspace: boolean }> {
    if (asked === undefined) {
      const workspace = join(this.deps.home, "workspaces", sessionId);
      mkdirForAgent(workspace, 0o755);
      return { workspace, ownsWorkspace: true };
    }
    // Canonical from here on: what is checked is what gets bound.
    const workspace = resolveWorkspace(asked, this.deps.policy);
    assertAgentWritable(workspace, tier === "host" ? undefined : agentIds());
    await this.assertFree(workspace);
    return { workspace, ownsWorkspace: false };
  }

  /** Two agents sharing a tree would undo each other's protections: one live session per workspace (nor one inside another's). */
  async assertFree(workspace: string, self?: string): Promise<void> {
    const other = (await this.deps.store.sessionsInStates(LIVE_SESSION_STATES)).find((s) => s.id !== self && (within(workspace, s.workspace) || within(s.workspace, workspace)));
    if (other) throw conflict("workspace_in_use", `workspace ${workspace} overlaps ${other.workspace} of live session ${other.id}; end that session first, or use another workspace`);
  }

  /** Right before the bind: the caller-named workspace still resolves to itself and is still allowed. */
  recheck(row: SessionRecord): void {
    const now = resolveWorkspace(row.workspace, this.deps.policy);
    if (now !== row.workspace) throw badRequest("workspace_changed", `workspace ${row.workspace} now resolves to ${now}; it was replaced since the session was created`);
    assertAgentWritable(now, row.tier === "host" ? undefined : agentIds());
  }

  /** Records the workspace's protected paths before the agent runs (in berth's session dir, out of the agent's reach). */
  async snapshot(row: SessionRecord, sessionDir: string): Promise<void> {
    await this.neutralize(row.id, sessionDir); // a snapshot left by a run that was never judged
    const snap = scanProtected(row.workspace, new Set(row.settings.writablePaths ?? []));
    writeFileSync(snapshotPath(sessionDir), JSON.stringify(snap), { mode: 0o600 });
  }

  /**
   * Once no agent process is left: whatever code-running file appeared or changed in the
   * workspace (hooks, git config keys, .git files, rc files) goes to quarantine, in an event.
   */
  async neutralize(id: string, sessionDir: string): Promise<void> {
    const file = snapshotPath(sessionDir);
    if (!existsSync(file)) return;
    try {
      const row = await this.deps.store.getSession(id);
      if (row) {
        const before = JSON.parse(readFileSync(file, "utf8")) as ProtectedSnapshot;
        const quarantine = join(this.deps.home, "quarantine", id);
        const { items, truncated } = neutralize(row.workspace, before, quarantine, new Set(row.settings.writablePaths ?? []));
        if (items.length || truncated) this.deps.emit(id, { type: "workspace.neutralized", data: { items: items.map((i) => ({ ...i })), truncated } });
      }
    } catch (e) {
      this.deps.logger.error({ sessionId: id, err: e }, "could not check the workspace's protected paths");
      this.deps.emit(id, { type: "session.error", data: { code: "workspace_check_failed", message: `berth could not check the workspace's protected paths after the session: ${(e as Error).message}` } });
    }
    rmSync(file, { force: true });
  }
}

function snapshotPath(sessionDir: string): string {
  return join(sessionDir, "protected.json");
}
