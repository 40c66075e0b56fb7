import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ClusterNode } from "../../src/cluster/node.js";
import type { ClusterCommand, ClusterStore, NodeLease } from "../../src/cluster/types.js";
import { BerthError } from "../../src/util/errors.js";

// The node's own logic against an in-memory store (the PostgreSQL store itself is tested
// against a real server in test/store/postgres.test.ts, and two nodes end to end in test/e2e).

interface Shared {
  commands: (ClusterCommand & { node: string; result?: string; taken?: boolean })[];
  next: number;
  nodes?: NodeLease[];
}

function memoryStore(nodeId: string, shared: Shared) {
  let signals: { commands: () => void; result: (id: string) => void } | undefined;
  const store = {
    nodeId,
    renew: async (): Promise<boolean> => true,
    joinCluster: async (_lease: number, version: string, homeMark?: string) => {
      const t = new Date().toISOString();
      (shared.nodes ??= []).push({ id: nodeId, startedAt: t, heartbeatAt: t, expiresAt: t, alive: true, version, pid: process.pid, homeMark: homeMark ?? null });
    },
    renewLease: async () => store.renew(),
    leaveCluster: async () => {},
    nodes: async () => shared.nodes ?? [],
    adoptOrphans: async () => [],
    claimSession: async () => true,
    ownersOf: async () => new Map(),
    ownedSessions: async () => [],
    sendCommand: async (node: string, sessionId: string, kind: string, args: string) => {
      const id = String(++shared.next);
      shared.commands.push({ id, node, sessionId, kind, args });
      return id;
    },
    takeCommands: async () => shared.commands.filter((c) => c.node === nodeId && !c.taken).map((c) => ((c.taken = true), c)),
    finishCommand: async (id: string, result: string) => {
      shared.commands.find((c) => c.id === id)!.result = result;
    },
    pruneCommands: async () => {},
    commandResult: async (id: string) => shared.commands.find((c) => c.id === id)?.result,
    onCommandSignals: async (h: typeof signals) => void (signals = h),
    signal: () => signals?.commands(),
  };
  return store satisfies ClusterStore;
}

const quiet = pino({ level: "silent" });

/** A node on `store`; what it runs for others and how it fences default to nothing. */
function makeNode(store: ClusterStore, over: Partial<ConstructorParameters<typeof ClusterNode>[0]> = {}): ClusterNode {
  return new ClusterNode({ store, leaseMs: 60_000, version: "1", logger: quiet, execute: async () => null, adopted: async () => {}, fenced: async () => {}, ...over });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("ClusterNode", () => {
  it("carries a call to the owner and back: its value, or its error with status and code", async () => {
    const shared = { commands: [], next: 0 };
    const owner = makeNode(memoryStore("owner", shared), {
      execute: async (kind, id, args) => {
        if (kind === "cancel") throw new BerthError(409, "no_running_turn", `session ${id} has no running turn`);
        return { echoed: args };
      },
    });
    const ownerStore = (owner as unknown as { d: { store: ReturnType<typeof memoryStore> } }).d.store;
    const caller = makeNode(memoryStore("caller", shared));
    await owner.start();
    await caller.start();
    const pending = caller.call("owner", "ses_1", "postTurn", { kind: "postTurn", x: 1 });
    await sleep(10);
    ownerStore.signal();
    await expect(pending).resolves.toEqual({ echoed: { kind: "postTurn", x: 1 } });
    const failing = caller.call("owner", "ses_1", "cancel", { kind: "cancel" });
    await sleep(10);
    ownerStore.signal();
    await expect(failing).rejects.toMatchObject({ status: 409, code: "no_running_turn" });
    await Promise.all([owner.stop(), caller.stop()]);
  });

  it("runs each session's commands one at a time in order, and different sessions side by side", async () => {
    const shared = { commands: [], next: 0 };
    const log: string[] = [];
    const owner = makeNode(memoryStore("owner", shared), {
      execute: async (_kind, id, args) => {
        log.push(`start ${id} ${(args as { n: number }).n}`);
        await sleep(id === "slow" ? 50 : 5);
        log.push(`end ${id} ${(args as { n: number }).n}`);
        return null;
      },
    });
    const caller = makeNode(memoryStore("caller", shared));
    await caller.start();
    const calls = [caller.call("owner", "slow", "x", { n: 1 }), caller.call("owner", "slow", "x", { n: 2 }), caller.call("owner", "fast", "x", { n: 3 })];
    await sleep(10);
    await owner.start(); // commands sent while it was down are served at its start
    await Promise.all(calls);
    expect(log.filter((l) => l.includes("slow"))).toEqual(["start slow 1", "end slow 1", "start slow 2", "end slow 2"]);
    // The fast session did not wait behind the slow one.
    expect(log.indexOf("end fast 3")).toBeLessThan(log.indexOf("end slow 1"));
    await Promise.all([owner.stop(), caller.stop()]);
  });

  it("an owner that never answers is 503 owner_unreachable", async () => {
    const caller = makeNode(memoryStore("caller", { commands: [], next: 0 }), { callTimeoutMs: 300 });
    await expect(caller.call("gone", "ses_1", "cancel", {})).rejects.toMatchObject({ status: 503, code: "owner_unreachable" });
  });

  it("fences itself: a lease found expired stops the sessions it lost; a whole lease without reaching the database stops them all", async () => {
    const store = memoryStore("n", { commands: [], next: 0 });
    const fenced: boolean[] = [];
    const node = makeNode(store, { leaseMs: 300, fenced: async (unknown) => void fenced.push(unknown) });
    await node.start();
    store.renew = async () => false;
    await sleep(150);
    expect(fenced[0]).toBe(false);
    store.renew = async () => {
      throw new Error("connection refused");
    };
    await sleep(600);
    expect(fenced).toContain(true);
    await node.stop();
  });

  it("says when another node does not share this node's BERTH_HOME (its mark is not here), once, and not when it does", async () => {
    const shared: Shared = { commands: [], next: 0 };
    const home = mkdtempSync(join(tmpdir(), "berth-home-a-"));
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const a = makeNode(memoryStore("a", shared), { home });
    const same = makeNode(memoryStore("same", shared), { home, logger });
    const apart = makeNode(memoryStore("apart", shared), { home: mkdtempSync(join(tmpdir(), "berth-home-b-")), logger });
    await a.start();
    await same.start();
    expect(await same.checkSharedHome()).toEqual([]);
    await apart.start();
    expect(await apart.checkSharedHome()).toEqual(["a", "same"]);
    expect(lines.filter((l) => l.includes("does not share this node's BERTH_HOME"))).toHaveLength(2);
    await Promise.all([a.stop(), same.stop(), apart.stop()]);
  });
});
