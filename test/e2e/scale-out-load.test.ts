import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type BerthServer } from "../../src/app.js";
import type { BerthEvent } from "../../src/events/types.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { Berth } from "../../packages/client/src/index.js";
import { BerthClient } from "./client.js";
import { API_TOKEN, assertContiguous, collect, HARNESS_CACHE, isReady, runCli } from "./helpers.js";
import { useMinimalHarness } from "./minimal-harness.js";

// 20 sessions at once over two berth nodes on one PostgreSQL database (in one process, so
// the minimal ACP agent can be registered as a harness): each is created on one node and
// followed, prompted and read through the other. Every stream must hold every event exactly
// once, in order, and match what the database stored.
const SESSIONS = 20;
const UPDATES = 50;

describe("20 sessions over two nodes", () => {
  let pg: TestPostgres;
  let root: string;
  const nodes: BerthServer[] = [];
  beforeAll(async () => {
    process.env.MINIMAL_UPDATES = String(UPDATES);
    useMinimalHarness();
    pg = await startPostgres();
    url = await pg.createDatabase();
    root = mkdtempSync(join(tmpdir(), "berth-e2e-nodes-"));
    chmodSync(root, 0o711);
    for (const nodeId of ["node-1", "node-2"]) {
      const n = await startServer({
        config: { port: 0, home: join(root, "home"), harnessCache: HARNESS_CACHE, nodeId },
        env: { PATH: process.env.PATH, BERTH_TOKEN: API_TOKEN, BERTH_DATABASE_URL: url, BERTH_NODE_LEASE_MS: "3000" },
        logger: pino({ level: "warn" }),
      });
      await n.recovered;
      nodes.push(n);
    }
  }, 120_000);
  let url: string;
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await pg?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it(`${SESSIONS} sessions, each created on one node and streamed and prompted through the other: no event lost or repeated`, async () => {
    const clients = nodes.map((n) => new BerthClient(n.url, API_TOKEN));
    const results = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, i) => {
        const [home, other] = [clients[i % 2]!, clients[(i + 1) % 2]!];
        const s = await home.createSession({ harness: "minimal" });
        const streamed = collect(other, s.id, (e) => e.type === "turn.ended", { timeoutMs: 120_000 });
        await collect(other, s.id, isReady, { timeoutMs: 120_000 });
        const t = await other.postTurn(s.id, "go");
        const evs = await streamed;
        await other.endSession(s.id);
        const stored = (await home.eventsPage(s.id)).events;
        return { s, t, evs, stored };
      }),
    );
    for (const { t, evs, stored } of results) {
      assertContiguous(evs);
      expect(stored.slice(0, evs.length)).toEqual(evs);
      const chunks = evs.filter((e: BerthEvent) => e.type === "message.delta" && e.turnId === t.id).map((e) => (e.data as any).text);
      expect(chunks.join("")).toBe(Array.from({ length: UPDATES }, (_, k) => `chunk ${k};`).join(""));
      expect(evs.at(-1)).toMatchObject({ type: "turn.ended", turnId: t.id, data: { stopReason: "end_turn" } });
    }
    // Both nodes ran sessions, and nothing is left running on either.
    for (const n of nodes) {
      expect(n.manager.liveCount()).toBe(0);
      expect(await n.store.listSandboxes()).toEqual([]);
    }
    expect(await nodes[0]!.store.sessionCountsByState()).toEqual({ ended: SESSIONS });
  }, 300_000);

  it("the SDK and `berth sessions ls --all` page through every session from either node, each once, newest first; a state filter and a bad one", async () => {
    const all = (await nodes[0]!.store.listSessions({ limit: 1000 })).map((r) => r.id);
    expect(all).toHaveLength(SESSIONS);
    for (const n of nodes) {
      const berth = Berth.connect({ baseUrl: n.url, token: API_TOKEN });
      const seen: string[] = [];
      for await (const s of berth.allSessions({ limit: 6 })) seen.push(s.id);
      expect(seen).toEqual(all);
      const first = await berth.sessionPage({ limit: 6, state: "ended" });
      expect(first.sessions.map((s) => s.id)).toEqual(all.slice(0, 6));
      expect(first.nextCursor).toEqual(expect.any(String));
      expect((await berth.sessionPage({ limit: 6, before: first.nextCursor! })).sessions.map((s) => s.id)).toEqual(all.slice(6, 12));
      expect(await berth.sessions({ state: ["running", "ready"] })).toEqual([]);
    }
    const env = { BERTH_URL: nodes[1]!.url, BERTH_TOKEN: API_TOKEN };
    const ls = await runCli(["sessions", "ls", "--all", "--limit", "7", "--state", "ended", "--json"], env);
    expect(ls.status, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout).sessions.map((s: { id: string }) => s.id)).toEqual(all);
    const bad = await runCli(["sessions", "ls", "--state", "ended,bogus"], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/'bogus' is not a session state/);
  });

  it("berth db status shows the schema, both nodes' live leases and the sessions by owner; migrate on a fresh database applies every migration once", async () => {
    const status = await runCli(["db", "status", "--json"], { BERTH_DATABASE_URL: url });
    expect(status.status, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.schema.pending).toEqual([]);
    expect(s.nodes.map((n: any) => [n.id, n.alive])).toEqual([
      ["node-1", true],
      ["node-2", true],
    ]);
    expect(s.sessions.reduce((n: number, r: any) => n + r.n, 0)).toBe(SESSIONS);
    const text = await runCli(["db", "status"], { BERTH_DATABASE_URL: url });
    expect(text.stdout).toMatch(/schema: version \d+, up to date/);
    expect(text.stdout).toMatch(/node-1\s+alive/);

    const fresh = await pg.createDatabase();
    const first = await runCli(["db", "migrate", "--database-url", fresh]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^applied \d+ migrations: 1 \(/);
    const again = await runCli(["db", "migrate", "--database-url", fresh]);
    expect(again.stdout).toBe("the schema is up to date\n");
  });

  it("berth db refuses what it cannot use with one line and exit 2, and never prints the database password", async () => {
    const none = await runCli(["db", "status"]);
    expect(none.status).toBe(2);
    expect(none.stderr.trim().split("\n")).toHaveLength(1);
    expect(none.stderr).toMatch(/set BERTH_DATABASE_URL/);
    const notPg = await runCli(["db", "migrate", "--database-url", "mysql://x@h/db"]);
    expect(notPg.status).toBe(2);
    const password = "pw-" + "Zq8".repeat(8);
    const unreachable = await runCli(["db", "status", "--database-url", `postgres://berth:${password}@127.0.0.1:1/berth`]);
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the database at postgres:\/\/berth:\*\*\*@127\.0\.0\.1:1\/berth/);
    expect(unreachable.stderr + unreachable.stdout).not.toContain(password);
    const badNode = await runCli(["serve", "--node-id", "../../etc"]);
    expect(badNode.status).toBe(2);
    expect(badNode.stderr).toMatch(/--node-id must be/);
  });
});

describe("readiness on a shared database", () => {
  it("/ready is 503 while the database does not answer, naming it without its password; /health stays 200", async () => {
    const own = await startPostgres();
    const root = mkdtempSync(join(tmpdir(), "berth-e2e-ready-"));
    chmodSync(root, 0o711);
    const password = "pw-" + "Rd7".repeat(8);
    // The test server trusts every connection: the password is only carried, never checked.
    const url = (await own.createDatabase()).replace("postgres@", `postgres:${password}@`);
    const n = await startServer({
      config: { port: 0, home: join(root, "home"), harnessCache: HARNESS_CACHE, nodeId: "lonely" },
      env: { PATH: process.env.PATH, BERTH_TOKEN: API_TOKEN, BERTH_DATABASE_URL: url },
      logger: pino({ level: "warn" }),
    });
    try {
      await n.recovered;
      expect((await fetch(`${n.url}/ready`)).status).toBe(200);
      await own.stop();
      const res = await fetch(`${n.url}/ready`);
      const body = await res.text();
      expect(res.status).toBe(503);
      expect(body).toMatch(/store unavailable/);
      expect(body).not.toContain(password);
      expect((await fetch(`${n.url}/health`)).status).toBe(200);
    } finally {
      await n.close().catch(() => {});
      await own.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
