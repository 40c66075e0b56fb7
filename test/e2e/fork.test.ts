import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Berth } from "../../packages/client/src/index.js";
import { toolLoopScript, useMockedBerth } from "./harness-contract.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { API_TOKEN, processEnv, sessionPids, untilReady, walk } from "./helpers.js";

// Fork with a real Pi in T1 and T2: turn 1 has the agent write one.txt; then two.txt is written
// through the files API and turn 2 runs. A fork at turn 1 gets turn 1's workspace (one.txt,
// no two.txt) and the conversation up to turn 1, no further; its events say where it came
// from and that its context was rebuilt.

const CANARY = "sk-ant-api03-FORKCANARY" + "K".repeat(40);
const script = toolLoopScript({ name: "bash", input: { command: "printf 'from turn one' > one.txt && echo ok" } });
const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) });

for (const tier of ["process", "container"] as const)
describe(`fork on tier ${tier}`, () => {
  it("at turn 1 copies turn 1's workspace, not turn 2's, and carries the conversation up to turn 1; at the last turn, Pi restores its own", async () => {
    const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
    const [mark1, mark2] = [`KIWI-${randomBytes(4).toString("hex")}`, `MANGO-${randomBytes(4).toString("hex")}`];
    const source = await berth.createSession({ harness: "pi", tier, metadata: { team: "blue" } });
    await source.ready();
    const t1 = await source.prompt(`Write one.txt and remember ${mark1}.`);
    expect(t1.stopReason).toBe("end_turn");
    await source.writeFile("two.txt", "after turn one\n");
    const t2 = await source.prompt(`Now remember ${mark2}.`);
    expect(t2.stopReason).toBe("end_turn");

    const fork = await source.fork({ atTurn: t1.turn.id });
    expect(fork.id).not.toBe(source.id);
    expect(fork.info).toMatchObject({ harness: "pi", tier, metadata: { team: "blue" } });
    const first = (await fork.events().next()).value;
    expect(first?.data).toMatchObject({ state: "starting", forkedFrom: { sessionId: source.id, turnId: t1.turn.id } });
    const events = await untilReady(fork);
    expect(events.at(-1)!.data).toMatchObject({ state: "ready", context: "rebuilt" });

    const names = (await fork.listFiles()).entries.map((e) => e.name);
    expect(names).toContain("one.txt");
    expect(names).not.toContain("two.txt");
    expect(Buffer.from(await fork.readFile("one.txt")).toString()).toBe("from turn one");
    // The source is untouched.
    expect((await source.listFiles()).entries.map((e) => e.name)).toEqual(expect.arrayContaining(["one.txt", "two.txt"]));

    ctx.mock.requests.length = 0;
    const t = await fork.prompt("What do you remember?");
    expect(t.stopReason).toBe("end_turn");
    const bodies = ctx.mock.requests.map((r) => r.body ?? "").join("\n");
    expect(bodies).toContain(mark1);
    expect(bodies).not.toContain(mark2);

    // At the last turn: Pi loads its own history, copied into the fork (context restored),
    // with the source's gateway token scrubbed from every copied file.
    const sourceToken = processEnv(sessionPids(source.id)[0]!).BERTH_GATEWAY_TOKEN!;
    expect(sourceToken).toMatch(/^bgt_/);
    const latest = await source.fork();
    const ready = await untilReady(latest);
    expect(ready.at(-1)!.data).toMatchObject({ state: "ready", context: "restored" });
    expect(ready[0]!.data).toMatchObject({ forkedFrom: { sessionId: source.id, turnId: t2.turn.id } });
    ctx.mock.requests.length = 0;
    expect((await latest.prompt("And now?")).stopReason).toBe("end_turn");
    const latestBodies = ctx.mock.requests.map((r) => r.body ?? "").join("\n");
    expect(latestBodies).toContain(mark1);
    expect(latestBodies).toContain(mark2);
    const forkHome = join(ctx.berth.home, "sessions", latest.id, "home");
    expect(walk(forkHome).length).toBeGreaterThan(0);
    for (const f of walk(forkHome)) expect(readFileSync(f, "latin1"), f).not.toContain(sourceToken);
    await latest.end();

    // Errors name what is wrong.
    await expect(source.fork({ atTurn: "turn_nope" })).rejects.toMatchObject({ status: 404, code: "turn_not_found" });
    await fork.end();
    await source.end();
  });
});
