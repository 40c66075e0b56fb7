import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Berth } from "../../packages/client/src/index.js";
import { BerthApiError } from "./client.js";
import { API_TOKEN, collect, isReady, newWorkspace, runCli, sessionPids, startBerth, turnEnded } from "./helpers.js";

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

  it("DELETE ?purge=true ends a live session and deletes it at once (SDK, CLI, API); a caller's workspace stays; a bad flag and an unknown id are refused", async () => {
    const berth = await startBerth();
    try {
      const c = berth.client;
      const sdk = Berth.connect({ baseUrl: berth.url, token: API_TOKEN });
      // Live, mid-life, in the caller's workspace: ended, then deleted, by the SDK.
      const ws = newWorkspace();
      writeFileSync(join(ws, "mine.txt"), "the caller's");
      const a = await sdk.createSession({ harness: "pi", workspace: ws });
      await a.ready();
      const t = await c.postTurn(a.id, "write hello.txt");
      await collect(c, a.id, turnEnded(t.id), { timeoutMs: 60_000 });
      expect(existsSync(join(berth.home, "snapshots", `${a.id}.git`))).toBe(true);
      await a.delete();
      await expect(c.getSession(a.id)).rejects.toMatchObject({ status: 404, code: "session_not_found" });
      await expect(c.eventsPage(a.id)).rejects.toMatchObject({ status: 404 });
      for (const p of [join(berth.home, "sessions", a.id), join(berth.home, "snapshots", `${a.id}.git`)]) expect(existsSync(p)).toBe(false);
      expect(existsSync(join(ws, "mine.txt"))).toBe(true);
      expect(existsSync(join(ws, "hello.txt"))).toBe(true);
      // Its harness is gone with it.
      expect(sessionPids(a.id)).toEqual([]);
      // A second delete is a 404, like any unknown id.
      await expect(a.delete()).rejects.toMatchObject({ status: 404, code: "session_not_found" });

      // In a workspace berth made, by the CLI.
      const b = await c.createSession({ harness: "pi" });
      await collect(c, b.id, isReady, { timeoutMs: 60_000 });
      const cli = await runCli(["sessions", "end", b.id, "--purge", "--url", berth.url, "--token", API_TOKEN]);
      expect(cli.status, cli.stderr).toBe(0);
      expect(cli.stdout).toBe(`${b.id} deleted\n`);
      expect(existsSync(b.workspace)).toBe(false);
      expect((await c.listSessions()).map((s) => s.id)).toEqual([]);

      // Refusals leave everything as it was.
      const d = await c.createSession({ harness: "pi" });
      await collect(c, d.id, isReady, { timeoutMs: 60_000 });
      const bad = await fetch(`${berth.url}/v1/sessions/${d.id}?purge=yes`, { method: "DELETE", headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
      expect((await c.getSession(d.id)).state).toBe("ready");
      const unknown = await fetch(`${berth.url}/v1/sessions/ses_nope?purge=true`, { method: "DELETE", headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(unknown.status).toBe(404);
      const plain = await fetch(`${berth.url}/v1/sessions/${d.id}?purge=true`, { method: "DELETE", headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(plain.status).toBe(204);
      expect(await plain.text()).toBe("");
    } finally {
      await berth.stop();
    }
  }, 180_000);
});
