import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type BerthServer } from "../../src/app.js";
import { BerthClient } from "./client.js";
import { runConcurrently } from "./concurrency.js";
import { API_TOKEN, HARNESS_CACHE } from "./helpers.js";
import { useMinimalHarness } from "./minimal-harness.js";

// 200 sessions at once in T1 (real bubblewrap sandboxes, a real SQLite file, berth's real
// HTTP API and SSE), each running one turn of a minimal ACP agent: none may fail, and no
// event may be lost or out of order. The time bound is generous for a 2-core CI machine
// (about 16 s here); what is asserted is completeness, not speed (bench/density.ts measures).
const SESSIONS = 200;
const UPDATES = 20;

describe("concurrency", () => {
  let root: string;
  let berth: BerthServer;
  beforeAll(async () => {
    process.env.MINIMAL_UPDATES = String(UPDATES);
    useMinimalHarness();
    root = mkdtempSync(join(tmpdir(), "berth-e2e-concurrency-"));
    chmodSync(root, 0o711);
    berth = await startServer({
      config: { port: 0, home: join(root, "home"), harnessCache: HARNESS_CACHE },
      env: { PATH: process.env.PATH, BERTH_TOKEN: API_TOKEN },
      logger: pino({ level: "warn" }),
    });
    await berth.recovered;
  });
  afterAll(async () => {
    await berth?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it(`${SESSIONS} sessions at once in T1 each run a turn: no failure, no lost or reordered event, nothing left running`, async () => {
    const client = new BerthClient(berth.url, API_TOKEN);
    const r = await runConcurrently(client, { sessions: SESSIONS, harness: "minimal", tier: "process", updates: UPDATES, timeoutMs: 240_000 });
    expect(r.errors.slice(0, 10)).toEqual([]);
    expect(r.ready).toHaveLength(SESSIONS);
    expect(r.turn).toHaveLength(SESSIONS);
    expect(r.lost).toBe(0);
    expect(r.gaps).toBe(0);
    expect(berth.manager.liveCount()).toBe(0);
    expect(await berth.store.listSandboxes()).toEqual([]);
    expect(await berth.store.sessionCountsByState()).toMatchObject({ ended: SESSIONS });
  }, 300_000);
});
