import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type BerthServer } from "../../src/app.js";
import type { BerthEvent } from "../../src/events/types.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { BerthClient } from "./client.js";
import { API_TOKEN, assertContiguous, collect, HARNESS_CACHE, isReady } from "./helpers.js";
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
    const url = await pg.createDatabase();
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
});
