import type { Logger } from "pino";
import type { NewEvent } from "../events/types.js";
import type { SessionStore } from "./store.js";
import type { WorkspaceSnapshots } from "./snapshots.js";
import type { LiveSession } from "./turn-runner.js";

/**
 * The turn runner's snapshot hooks: the workspace at a turn's start and end, and at the end a
 * `workspace.changed` event summing up what changed (when anything did). A snapshot that fails
 * (a vanished workspace, a git timeout) is logged and the turn goes on without its diff.
 */
export function turnSnapshots(d: { snapshots: WorkspaceSnapshots; store: Pick<SessionStore, "getSession">; emit: (id: string, ev: NewEvent) => void; logger: Logger }) {
  const take = async (live: LiveSession, turnId: string, at: "start" | "end") => {
    const row = await d.store.getSession(live.id);
    if (!row) return false;
    try {
      await d.snapshots.take(live.id, row.workspace, `turns/${turnId}/${at}`);
      return true;
    } catch (e) {
      d.logger.warn({ sessionId: live.id, turnId, err: (e as Error).message.slice(0, 300) }, `workspace snapshot at the turn's ${at} failed; the turn has no diff`);
      return false;
    }
  };
  return {
    start: async (live: LiveSession, turnId: string) => void (await take(live, turnId, "start")),
    end: async (live: LiveSession, turnId: string) => {
      if (!(await d.snapshots.has(live.id, `turns/${turnId}/start`)) || !(await take(live, turnId, "end"))) return;
      try {
        const diff = await d.snapshots.diff(live.id, `turns/${turnId}/start`, `turns/${turnId}/end`);
        if (diff.files.length === 0) return;
        const count = (c: string) => diff.files.filter((f) => f.change === c).length;
        d.emit(live.id, {
          type: "workspace.changed",
          turnId,
          data: {
            added: count("added"),
            modified: count("modified"),
            deleted: count("deleted"),
            files: diff.files.slice(0, 200).map(({ path, change, binary }) => ({ path, change, binary })),
            truncated: diff.truncated || diff.files.length > 200,
          },
        });
      } catch (e) {
        d.logger.warn({ sessionId: live.id, turnId, err: (e as Error).message.slice(0, 300) }, "workspace diff failed");
      }
    },
  };
}
