import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BerthApiError } from "./client.js";
import { collect, isReady, newWorkspace, startBerth, turnEnded } from "./helpers.js";

// Retention on a real server (`berth serve`, SQLite, Pi in T1 on berth's embedded mock model):
// with BERTH_RETENTION_DAYS at about 2.6 seconds, an ended session goes, rows and files, a
// few seconds after it ended, while a caller's workspace and a live session stay.
const RETENTION_DAYS = "0.00003";

describe("retention", () => {
  it("deletes ended sessions' records, logs, homes and snapshots once past retention; never a caller's workspace or a live session", async () => {
    const berth = await startBerth({ env: { BERTH_RETENTION_DAYS: RETENTION_DAYS } });
    try {
      const c = berth.client;
      // Ended after a turn: it has a berth-made workspace and the turn's snapshots.
      const a = await c.createSession({ harness: "pi" });
      await collect(c, a.id, isReady, { timeoutMs: 60_000 });
      const t = await c.postTurn(a.id, "write hello.txt");
      await collect(c, a.id, turnEnded(t.id), { timeoutMs: 60_000 });
      await c.endSession(a.id);
      const snapshots = join(berth.home, "snapshots", `${a.id}.git`);
      expect(existsSync(snapshots)).toBe(true);
      expect(existsSync(a.workspace)).toBe(false); // ending removes the workspace berth made (before retention)
      // Ended, in the caller's own workspace.
      const ws = newWorkspace();
      writeFileSync(join(ws, "mine.txt"), "the caller's");
      const b = await c.createSession({ harness: "pi", workspace: ws });
      await collect(c, b.id, isReady, { timeoutMs: 60_000 });
      await c.endSession(b.id);
      // Live the whole time.
      const live = await c.createSession({ harness: "pi" });
      await collect(c, live.id, isReady, { timeoutMs: 60_000 });

      const gone = async (id: string) => (await c.getSession(id).catch((e: unknown) => e)) instanceof BerthApiError;
      const deadline = Date.now() + 30_000;
      while (!((await gone(a.id)) && (await gone(b.id))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      for (const id of [a.id, b.id]) {
        await expect(c.getSession(id)).rejects.toMatchObject({ status: 404, code: "session_not_found" });
        await expect(c.eventsPage(id)).rejects.toMatchObject({ status: 404 });
        expect(existsSync(join(berth.home, "sessions", id))).toBe(false);
        expect(existsSync(join(berth.home, "snapshots", `${id}.git`))).toBe(false);
      }
      expect((await c.listSessions()).map((s) => s.id)).toEqual([live.id]);
      // The caller's workspace is theirs.
      expect(existsSync(join(ws, "mine.txt"))).toBe(true);
      // The live session was never a candidate, and still works.
      expect((await c.getSession(live.id)).state).toBe("ready");
      const t2 = await c.postTurn(live.id, "write hello.txt");
      await collect(c, live.id, turnEnded(t2.id), { timeoutMs: 60_000 });
      const metrics = await (await fetch(`${berth.url}/metrics`)).text();
      expect(Number(/^berth_sessions_purged_total (\d+)/m.exec(metrics)?.[1])).toBe(2);
      await c.endSession(live.id);
    } finally {
      await berth.stop();
    }
  }, 180_000);
});
