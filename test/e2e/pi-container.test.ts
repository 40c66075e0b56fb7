import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { LABEL_OWNER, LABEL_SESSION, OciDriver } from "../../src/sandboxes/oci.js";
import { API_TOKEN, assertContiguous, collect, isReady, newWorkspace, processEnv, sessionPids, startBerth, turnEnded, walk, type BerthProc } from "./helpers.js";

// A real Pi (from npm) in a real Podman container (T2 `container`), through berth's HTTP
// API and gateway, against berth's scripted mock model, which only accepts berth's real
// upstream key. The container has no network: the model is reachable only through the
// gateway's unix socket, relayed to 127.0.0.1 inside.
const CANARY = "sk-ant-api03-CONTAINER" + "Q".repeat(40);

const script = parseMockScript(`
steps:
  - text: "I'll write the file."
    tool: { name: bash, input: { command: "printf 'written by pi in a container' > out.txt && echo done" } }
  - text: "The file out.txt is written."
`);

const engine = new OciDriver();
let docker: Dockerode;
let mock: MockProvider;
let berth: BerthProc | undefined;
const env: Record<string, string> = { ANTHROPIC_API_KEY: CANARY, BERTH_MODEL: "claude-mock" };
// berth (a child process) talks to the same engine as this test.
for (const k of ["BERTH_DOCKER_HOST", "DOCKER_HOST", "BERTH_IMAGE"] as const) if (process.env[k]) env[k] = process.env[k]!;

beforeAll(async () => {
  mock = await startMockProvider({ script, requireKey: CANARY });
});
// Each test waits for this, so a missing engine or image fails each of them (not skips).
let ready: Promise<void> | undefined;
const engineReady = () =>
  (ready ??= (async () => {
    try {
      await engine.check("container");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n=> the container e2e tests need Podman and the workspace images: run sudo bash scripts/podman-setup.sh`);
    }
    docker = await engine.client();
  })());
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
});

/** The containers berth runs for a session (by label). */
async function containersOf(sessionId: string) {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_SESSION}=${sessionId}`] } });
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return cond();
}

function workspace(): string {
  return newWorkspace("ws-ctr-");
}

describe("Pi in T2 (container) through the API", () => {
  it("runs a tool loop that writes a file; model traffic reaches the mock only through the gateway", async () => {
    await engineReady();
    berth = await startBerth({ env: { ...env, ANTHROPIC_BASE_URL: mock.url } });
    const ws = workspace();
    const s = await berth.client.createSession({ harness: "pi", workspace: ws, tier: "container" });
    expect(s.tier).toBe("container");
    await collect(berth.client, s.id, isReady, { timeoutMs: 120_000 });

    // One container for the session, confined as T2 promises.
    const [c, ...more] = await containersOf(s.id);
    expect(more).toEqual([]);
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.Config.User).toBe("1000:1000");
    expect(info.Config.Image).toBe(engine.image);
    expect(info.HostConfig).toMatchObject({ NetworkMode: "none", ReadonlyRootfs: true, Privileged: false });
    expect(info.HostConfig.CapDrop).toEqual(expect.arrayContaining([expect.stringMatching(/^(CAP_)?(ALL|CHOWN)$/)]));
    expect(info.Config.Labels).toMatchObject({ berth: "1", "berth.session": s.id, "berth.tier": "container" });
    // The harness's only way out is the relay, loaded into the harness's own Node process.
    expect(info.Config.Cmd!.slice(0, 3)).toEqual(["/usr/local/bin/node", "--require", "/run/berth/relay.js"]);
    expect(info.Config.Env).toContainEqual(expect.stringMatching(/^BERTH_RELAY_FORWARDS=\d+=\/run\/berth\/s0\.sock,3128=\/run\/berth\/s1\.sock$/));

    // The harness (seen from the host: the container shares no pid namespace with berth,
    // but the host sees its processes) has the gateway token and never the real key.
    const pids = sessionPids(s.id);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) {
      const e = processEnv(pid);
      expect(e.BERTH_GATEWAY_TOKEN).toMatch(/^bgt_/);
      expect(JSON.stringify(e)).not.toContain(CANARY);
      expect(e.ANTHROPIC_API_KEY).toBeUndefined();
      expect(statSync(`/proc/${pid}`).uid).toBe(1000);
    }

    const turn = await berth.client.postTurn(s.id, "write out.txt");
    await collect(berth.client, s.id, turnEnded(turn.id));
    const evs = (await berth.client.eventsPage(s.id)).events;
    expect(existsSync(join(ws, "out.txt")), evs.map((e) => `${e.seq} ${e.type} ${JSON.stringify(e.data).slice(0, 300)}`).join("\n")).toBe(true);
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written by pi in a container");
    expect(statSync(join(ws, "out.txt")).uid).toBe(1000);

    const all = (await berth.client.eventsPage(s.id)).events;
    assertContiguous(all);
    const done = all.findIndex((e) => e.type === "tool.update" && (e.data as any).status === "completed");
    expect(done).toBeGreaterThan(0);
    const textAfterTool = all.slice(done).filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("");
    expect(textAfterTool).toBe("The file out.txt is written.");
    expect(all.findLast((e) => e.type === "turn.ended")!.data).toMatchObject({ stopReason: "end_turn" });

    // Every request the mock saw carried berth's real key, which only the gateway holds,
    // and each is a model call the gateway recorded.
    const calls = mock.requests.filter((r) => r.path.endsWith("/messages"));
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((r) => r.authOk === true)).toBe(true);
    expect(all.filter((e) => e.type === "model.call").length).toBe(calls.length);

    // No file the harness can see holds the key; nor does the event store.
    const home = join(berth.home, "sessions", s.id, "home");
    for (const f of [...walk(home), ...walk(ws)]) expect(readFileSync(f, "latin1")).not.toContain(CANARY);
    expect(JSON.stringify(all)).not.toContain(CANARY);

    await berth.client.endSession(s.id);
    expect(await containersOf(s.id)).toEqual([]);
    expect(sessionPids(s.id)).toEqual([]);
    expect(existsSync(home)).toBe(false);
    await berth.stop();
    berth = undefined;
  });

  it("SIGKILL of berth, then a restart: no container is left behind, the session is interrupted", async () => {
    await engineReady();
    const home = mkdtempSync(join(tmpdir(), "berth-ctr-crash-"));
    const first = await startBerth({ home, env: { ...env, ANTHROPIC_BASE_URL: mock.url } });
    const s = await first.client.createSession({ harness: "pi", workspace: workspace(), tier: "container" });
    await collect(first.client, s.id, isReady, { timeoutMs: 120_000 });
    const [c] = await containersOf(s.id);
    expect(c).toBeDefined();
    await first.stop("SIGKILL");

    berth = await startBerth({ home, env: { ...env, ANTHROPIC_BASE_URL: mock.url } });
    expect(await waitFor(async () => (await containersOf(s.id)).length === 0, 15_000)).toBe(true);
    expect(sessionPids(s.id)).toEqual([]);
    expect((await berth.client.getSession(s.id)).state).toBe("interrupted");
    await berth.stop();
    berth = undefined;
  });
});

describe("Pi in T4 (host-access)", () => {
  it("two concurrent sessions each get an egress proxy port of their own on the shared host network", async () => {
    await engineReady();
    berth = await startBerth({ env: { ...env, ANTHROPIC_BASE_URL: mock.url } });
    const b = berth;
    const wss = [workspace(), workspace()];
    const sessions = await Promise.all(wss.map((ws) => b.client.createSession({ harness: "pi", workspace: ws, tier: "host-access" })));
    await Promise.all(sessions.map((s) => collect(b.client, s.id, isReady, { timeoutMs: 120_000 })));
    const proxies = await Promise.all(
      sessions.map(async (s) => {
        const [c] = await containersOf(s.id);
        const info = await docker.getContainer(c!.Id).inspect();
        expect(info.HostConfig.NetworkMode).toBe("host");
        return info.Config.Env.find((e) => e.startsWith("HTTPS_PROXY="))!.slice("HTTPS_PROXY=".length);
      }),
    );
    for (const p of proxies) expect(p).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proxies[0]).not.toBe(proxies[1]);
    // Both harnesses work side by side: each runs its tool loop to the end.
    await Promise.all(
      sessions.map(async (s) => {
        const t = await b.client.postTurn(s.id, "write out.txt");
        const evs = await collect(b.client, s.id, turnEnded(t.id), { timeoutMs: 120_000 });
        expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
      }),
    );
    for (const ws of wss) expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written by pi in a container");
    await Promise.all(sessions.map((s) => b.client.endSession(s.id)));
    await b.stop();
    berth = undefined;
  }, 300_000);
});

describe("a warm pool of Pi containers (T2)", () => {
  /** This berth's containers (by its owner label), pool entries and sessions alike. */
  const owned = (home: string) => docker.listContainers({ all: true, filters: { label: [`${LABEL_OWNER}=${home}`] } });

  it("a claim is ready in an entry's own container; a berth killed with a full pool leaves no container once restarted", async () => {
    await engineReady();
    const poolEnv = { ...env, ANTHROPIC_BASE_URL: mock.url, BERTH_POOLS: "pi:container:claude-mock=1", BERTH_POOL_REFILL_DELAY_MS: "5000" };
    berth = await startBerth({ env: poolEnv });
    const b = berth;
    const entries = async () => (await owned(b.home)).filter((c) => c.Labels[LABEL_SESSION]!.startsWith("pool_") && c.State === "running");
    expect(await waitFor(async () => (await entries()).length === 1 && (await poolReady(b)) === 1, 180_000)).toBe(true);
    const [entry] = await entries();

    // The claim takes the running entry: the session's container is the entry's, started before the request.
    const s = await b.client.createSession({ harness: "pi", tier: "container" });
    expect(s.pool).toMatchObject({ outcome: "hit" });
    expect(s.state).toBe("ready");
    // Nothing was started for it (the refill waits BERTH_POOL_REFILL_DELAY_MS): the entry's container is the only one.
    expect((await owned(b.home)).map((c) => c.Id)).toEqual([entry!.Id]);
    const t = await b.client.postTurn(s.id, "write out.txt");
    const evs = await collect(b.client, s.id, turnEnded(t.id), { timeoutMs: 120_000 });
    expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });

    // The pool refills; then berth dies with it full.
    expect(await waitFor(async () => (await entries()).some((c) => c.Id !== entry!.Id) && (await poolReady(b)) === 1, 180_000)).toBe(true);
    expect((await owned(b.home)).length).toBeGreaterThanOrEqual(2);
    await b.stop("SIGKILL");
    berth = await startBerth({ home: b.home, env: { ...poolEnv, BERTH_POOLS: undefined } });
    const again = berth;
    expect(await waitFor(async () => (await fetch(`${again.url}/ready`)).status === 200, 60_000)).toBe(true);
    // Readiness waited for the reaping: not one of the dead berth's containers is left, running or stopped.
    expect(await owned(b.home)).toEqual([]);
    expect((await again.client.getSession(s.id)).state).toBe("interrupted");
    await again.stop();
    berth = undefined;
  }, 600_000);
});

async function poolReady(b: BerthProc): Promise<number> {
  const text = await (await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).text();
  const m = /berth_pool_entries\{pool="pi:container:claude-mock",state="ready"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : -1;
}
