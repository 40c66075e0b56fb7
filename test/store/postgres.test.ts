import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { PostgresStore } from "../../src/store/postgres.js";
import { MIGRATIONS } from "../../src/store/postgres-schema.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { session, storeContract } from "./contract.js";

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => server?.stop());

async function fresh(nodeId = "n1"): Promise<{ store: PostgresStore; url: string }> {
  const url = await server.createDatabase();
  const store = new PostgresStore({ url, nodeId });
  await store.migrate();
  return { store, url };
}

storeContract("PostgreSQL", async () => (await fresh()).store);

describe("PostgreSQL store", () => {
  it("applies its migrations once, even when two nodes start together, and reports them", async () => {
    const url = await server.createDatabase();
    const a = new PostgresStore({ url, nodeId: "a" });
    const b = new PostgresStore({ url, nodeId: "b" });
    const before = await a.schemaStatus();
    expect(before.applied).toEqual([]);
    expect(before.pending.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
    expect([...ra, ...rb].sort()).toEqual(MIGRATIONS.map((m) => m.version));
    const after = await b.schemaStatus();
    expect(after.pending).toEqual([]);
    expect(after.applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await a.migrate()).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it("tells other nodes of each commit (session and last seq), never the node that made it", async () => {
    const { store: a, url } = await fresh("a");
    const b = new PostgresStore({ url, nodeId: "b" });
    const seenByA: string[] = [];
    const seenByB: string[] = [];
    await a.watchCommits((sid, seq) => seenByA.push(`${sid}:${seq}`));
    await b.watchCommits((sid, seq) => seenByB.push(`${sid}:${seq}`));
    await a.insertEvents([1, 2, 3].map((seq) => ({ sessionId: "s1", seq, ts: "t", type: "message.delta" as const, dataJson: "{}" })).concat([{ sessionId: "s2", seq: 1, ts: "t", type: "message.delta", dataJson: "{}" }]));
    for (let i = 0; i < 100 && seenByB.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seenByB.sort()).toEqual(["s1:3", "s2:1"]);
    expect(seenByA).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it("leases: a node id alive elsewhere is refused; an expired lease is renewed as lost; leaving frees it at once", async () => {
    const { store: a, url } = await fresh("n1");
    const twin = new PostgresStore({ url, nodeId: "n1" });
    await a.joinCluster(60_000, "1");
    await expect(twin.joinCluster(60_000, "1")).rejects.toThrow(/in use by a running berth/);
    expect(await a.renewLease(60_000)).toBe(true);
    await a.leaveCluster();
    expect((await a.nodes())[0]).toMatchObject({ id: "n1", alive: false });
    expect(await a.renewLease(60_000)).toBe(false); // it had expired: the caller fences
    expect((await a.nodes())[0]).toMatchObject({ id: "n1", alive: true });
    await Promise.all([a.close(), twin.close()]);
  });

  it("a node whose row an operator deleted rejoins as it joined: its version and home mark are back, its start time kept on a lapse", async () => {
    const { store: a, url } = await fresh("n1");
    await a.joinCluster(60_000, "1.2.3", "mark-1");
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query("DELETE FROM nodes WHERE id = 'n1'");
      expect(await a.renewLease(60_000)).toBe(false);
      const recreated = (await a.nodes())[0]!;
      expect(recreated).toMatchObject({ id: "n1", alive: true, version: "1.2.3", homeMark: "mark-1", pid: process.pid });
      // A lapsed lease (not a deleted row) is renewed as lost but keeps when the node started.
      await new Promise((r) => setTimeout(r, 20));
      await a.leaveCluster();
      expect(await a.renewLease(60_000)).toBe(false);
      const rejoined = (await a.nodes())[0]!;
      expect(rejoined).toMatchObject({ alive: true, version: "1.2.3", homeMark: "mark-1", startedAt: recreated.startedAt });
      expect(rejoined.heartbeatAt > recreated.heartbeatAt).toBe(true);
    } finally {
      await admin.end();
      await a.close();
    }
  });

  it("a dead node's live sessions go to exactly one of the nodes that look for orphans", async () => {
    const { store: dead, url } = await fresh("dead");
    await dead.joinCluster(60_000, "1");
    for (const id of ["s1", "s2", "s3"]) await dead.insertSession(session(id, { state: "running" }));
    await dead.insertSession(session("s4", { state: "ended" }));
    const b = new PostgresStore({ url, nodeId: "b" });
    const c = new PostgresStore({ url, nodeId: "c" });
    await b.joinCluster(60_000, "1");
    await c.joinCluster(60_000, "1");
    expect(await b.adoptOrphans(["starting", "ready", "running"])).toEqual([]); // its lease holds
    await dead.leaveCluster();
    const [byB, byC] = await Promise.all([b.adoptOrphans(["starting", "ready", "running"]), c.adoptOrphans(["starting", "ready", "running"])]);
    expect([...byB, ...byC].map((s) => s.id).sort()).toEqual(["s1", "s2", "s3"]);
    const owners = await c.ownersOf(byB.map((s) => s.id));
    for (const s of byB) expect(owners.get(s.id)).toEqual({ node: "b", alive: true });
    // The ended session keeps its dead owner (whose lease no longer holds); an unknown id has none.
    expect(await c.ownersOf(["s4", "nope"])).toEqual(new Map([["s4", { node: "dead", alive: false }]]));
    // Adopted sessions are not orphans: asking again adopts nothing.
    expect(await c.adoptOrphans(["starting", "ready", "running"])).toEqual([]);
    expect((await b.ownedSessions(["running"])).map((s) => s.id).sort()).toEqual(byB.map((s) => s.id).sort());
    // A resume claims only a session in a resumable state.
    expect(await c.claimSession("s4", ["interrupted", "failed"])).toBe(false);
    await Promise.all([dead.close(), b.close(), c.close()]);
  });

  it("commands reach their node once each, in order, with a signal, and their results come back with one", async () => {
    const { store: a, url } = await fresh("a");
    const b = new PostgresStore({ url, nodeId: "b" });
    let signals = 0;
    const results: string[] = [];
    await b.onCommandSignals({ commands: () => signals++, result: () => {} });
    await a.onCommandSignals({ commands: () => {}, result: (id) => results.push(id) });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await a.sendCommand("b", "s1", "postTurn", JSON.stringify({ i })));
    for (let i = 0; i < 100 && signals < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(signals).toBe(3);
    const [taken, again] = await Promise.all([b.takeCommands(), b.takeCommands()]);
    const all = [...taken, ...again];
    expect(all.map((c) => JSON.parse(c.args).i)).toEqual([0, 1, 2]);
    expect(await a.takeCommands()).toEqual([]); // not a's
    await b.finishCommand(all[1]!.id, '{"value":1}');
    for (let i = 0; i < 100 && results.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(results).toEqual([ids[1]]);
    expect(await a.commandResult(ids[1]!)).toBe('{"value":1}');
    expect(await a.commandResult(ids[0]!)).toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it("comes back after its LISTEN connection is killed, and says so (missed notices are re-read)", async () => {
    const { store: a, url } = await fresh("a");
    const b = new PostgresStore({ url, nodeId: "b", onListenerError: () => {} });
    const seen: string[] = [];
    let resyncs = 0;
    b.onResync(() => resyncs++);
    await b.watchCommits((sid, seq) => seen.push(`${sid}:${seq}`));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
    await admin.end();
    for (let i = 0; i < 200 && resyncs === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(resyncs).toBe(1);
    await a.insertEvents([{ sessionId: "s", seq: 1, ts: "t", type: "message.delta", dataJson: "{}" }]);
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["s:1"]);
    await Promise.all([a.close(), b.close()]);
  });
});
