import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, isFailed, sessionPids, startBerth } from "../helpers.js";
import { lines, readySession, runTurn, startScriptedBerth, type ScriptedBerth } from "./scripted-session.js";

// One T1 sandbox fork-bombs and allocates until its own cgroup stops it; another sandbox's
// tool still runs, a new session still starts, and berth stays healthy. Limits are small so
// the attack reaches them quickly: 96 tasks and 768 MiB per sandbox.

const MAX_PROCS = 96;
const MAX_MEMORY = 768 * 1024 ** 2;
let sb: ScriptedBerth;

beforeAll(async () => {
  sb = await startScriptedBerth({ BERTH_T1_MAX_PROCS: String(MAX_PROCS), BERTH_T1_MAX_MEMORY_BYTES: String(MAX_MEMORY) });
});
afterAll(async () => {
  await sb?.stop();
});

/** The session's cgroup directory in one v1 controller, read from one of its processes. */
function cgroupOf(sessionId: string, controller: string): string {
  const pid = sessionPids(sessionId)[0];
  if (!pid) throw new Error(`no process of session ${sessionId}`);
  const path = new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:(.*)$`, "m").exec(readFileSync(`/proc/${pid}/cgroup`, "utf8"))?.[1];
  return `/sys/fs/cgroup/${controller}${path}`;
}

describe("per-sandbox limits (T1)", () => {
  it("a fork bomb and a memory hog stop at their own sandbox's limits; the other sandbox and new sessions are unaffected", async () => {
    const { berth } = sb;
    const a = await readySession(berth);
    const b = await readySession(berth);
    const aPids = cgroupOf(a.s.id, "pids");
    expect(aPids).toMatch(/\/berth-[0-9a-f]{12}\/ses_/);
    expect(readFileSync(`${aPids}/pids.max`, "utf8").trim()).toBe(String(MAX_PROCS));
    expect(cgroupOf(b.s.id, "pids")).not.toBe(aPids);

    // A (one turn): three processes of 400 MiB each (each under the per-process limit, together
    // over the sandbox's memory), whom the cgroup's OOM killer answers with SIGKILL; then it
    // forks sleepers until refused, and leaves them holding its whole pids budget.
    const outA = await runTurn(
      berth,
      a.s,
      a.ws,
      "for i in 1 2 3; do node -e 'const a = []; for (let i = 0; i < 400; i++) a.push(Buffer.alloc(1 << 20).fill(1)); setTimeout(() => {}, 3000)' 2>/dev/null & p=\"$p $!\"; done\n" +
        "for x in $p; do wait $x; echo hog=$?; done\n" +
        "(i=0; while [ $i -lt 5000 ]; do sleep 600 & i=$((i+1)); done) 2>/dev/null\necho bombed=1\n",
    );
    expect(outA.match(/^hog=137$/gm)?.length).toBeGreaterThan(0);
    expect(lines(outA).bombed).toBe("1");
    const aMem = cgroupOf(a.s.id, "memory");
    expect(Number(readFileSync(`${aMem}/memory.oom_control`, "utf8").match(/oom_kill (\d+)/)?.[1])).toBeGreaterThan(0);
    expect(Number(readFileSync(`${aPids}/pids.events`, "utf8").match(/max (\d+)/)?.[1])).toBeGreaterThan(0);
    // Full: everything but a few tasks that exited since is A's sleepers.
    expect(Number(readFileSync(`${aPids}/pids.current`, "utf8"))).toBeGreaterThan(MAX_PROCS - 10);
    expect(Number(readFileSync(`${aPids}/pids.current`, "utf8"))).toBeLessThanOrEqual(MAX_PROCS);

    // A still holds its sleepers: B's tool forks freely, and a new session starts.
    const outB = lines(await runTurn(berth, b.s, b.ws, "i=0; while [ $i -lt 200 ]; do /bin/true || exit 9; i=$((i+1)); done; echo forks=$i\n"));
    expect(outB).toMatchObject({ forks: "200", exit: "0" });
    const c = await readySession(berth);
    expect(await (await fetch(`${berth.url}/health`)).json()).toEqual({ status: "ok" });

    // Ending A removes its cgroup and everything in it.
    await berth.client.endSession(a.s.id);
    expect(existsSync(aPids)).toBe(false);
    expect(existsSync(aMem)).toBe(false);
    expect(sessionPids(a.s.id)).toEqual([]);
    await berth.client.endSession(b.s.id);
    await berth.client.endSession(c.s.id);
  }, 300_000);
});

describe("limits berth cannot apply", () => {
  it.each([
    ["BERTH_T1_MAX_FILES", "99999999", /BERTH_T1_MAX_FILES=99999999 is above/],
  ])("%s=%s (above this host's limits) fails the session saying so, before any sandbox starts", async (name, value, message) => {
    const bad = await startScriptedBerth({ [name]: value });
    try {
      const s = await bad.berth.client.createSession({ harness: "pi" });
      const evs = await collect(bad.berth.client, s.id, isFailed, { timeoutMs: 180_000 });
      const err = evs.find((e) => e.type === "session.error")!;
      expect(err.data).toMatchObject({ code: "sandbox_limit_invalid", message: expect.stringMatching(message) });
      expect(JSON.stringify(err.data)).not.toContain("EPIPE");
      expect(sessionPids(s.id)).toEqual([]);
    } finally {
      await bad.stop();
    }
  }, 200_000);
});

describe("settings that are not values at all", () => {
  it.each([
    ["BERTH_T1_MAX_MEMORY_BYTES", "4G", 'BERTH_T1_MAX_MEMORY_BYTES="4G" is not a whole number of at least 1'],
    ["BERTH_T1_CPUS", "-1", 'BERTH_T1_CPUS="-1" is not a number of CPUs'],
    ["BERTH_T1_CGROUPS", "maybe", 'BERTH_T1_CGROUPS="maybe" is not on or off'],
    ["BERTH_DEFAULT_TIER", "t9", 'BERTH_DEFAULT_TIER="t9" is not a tier: host, process, container, privileged, host-access'],
  ])("%s=%s stops the server at start (exit 2, one line naming it)", async (name, value, message) => {
    const err = await startBerth({ env: { [name]: value } }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).toContain("berth exited 2");
    expect(err).toContain(message);
  }, 60_000);
});

describe("a sandbox that dies while starting", () => {
  it("fails the session with what it said, not a write to a dead pipe", async () => {
    // 4 MiB per process: the sandbox's first exec cannot map itself and it exits at once.
    const tiny = await startScriptedBerth({ BERTH_T1_MAX_MEMORY_BYTES: String(4 * 1024 ** 2) });
    try {
      const s = await tiny.berth.client.createSession({ harness: "pi" });
      const evs = await collect(tiny.berth.client, s.id, isFailed, { timeoutMs: 180_000 });
      const err = evs.find((e) => e.type === "session.error")!;
      expect(err.data).toMatchObject({ code: "sandbox_start_failed", message: expect.stringMatching(/^the sandbox exited during start-up \(code \d+, signal \S+\): \S/) });
      expect(JSON.stringify(evs)).not.toContain("EPIPE");
    } finally {
      await tiny.stop();
    }
  }, 200_000);
});

describe("after a crash", () => {
  it("a restarted berth removes the cgroups its killed predecessor's sandboxes left behind", async () => {
    const first = await startScriptedBerth();
    const { s } = await readySession(first.berth);
    const dirs = ["pids", "memory", "cpu"].map((c) => cgroupOf(s.id, c));
    for (const d of dirs) expect(existsSync(d)).toBe(true);
    await first.berth.stop("SIGKILL");
    // The sandbox dies with berth (--die-with-parent); its cgroups stay until someone removes them.
    for (let i = 0; i < 100 && sessionPids(s.id).length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sessionPids(s.id)).toEqual([]);
    expect(dirs.filter((d) => existsSync(d))).toEqual(dirs);
    const second = await startScriptedBerth({}, first.berth.home);
    try {
      // The reaping runs after listening; readiness waits for it.
      for (let i = 0; i < 200 && (await fetch(`${second.berth.url}/ready`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
      expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    } finally {
      await second.stop();
      await first.mock.close();
    }
  }, 200_000);
});
