import { execFileSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getHarness } from "../../../src/harnesses/registry.js";
import { parseMockScript, startMockProvider, type MockProvider } from "../../../src/mock/index.js";
import { collect, HARNESS_CACHE, isFailed, isReady, startBerth, turnEnded, type BerthProc } from "../helpers.js";

// The harness cache is berth's code as far as every session is concerned: an agent must not
// change it, and a changed install must never run. This file works on its own copy of the
// Pi install (the shared test cache stays untouched).

const KEY = "sk-ant-api03-hc" + "H".repeat(40);
const pi = getHarness("pi")!;

let cache: string;
let install: string;
let mock: MockProvider;
let berth: BerthProc;

beforeAll(async () => {
  const src = join(HARNESS_CACHE, "pi", pi.version);
  try {
    statSync(join(src, ".berth-install.json"));
  } catch {
    throw new Error(`no Pi install in ${HARNESS_CACHE}: run any Pi e2e test first (it installs Pi from npm), or set BERTH_TEST_HARNESS_CACHE`);
  }
  cache = mkdtempSync(join(tmpdir(), "berth-hcache-"));
  chmodSync(cache, 0o755);
  execFileSync("mkdir", ["-p", join(cache, "pi")]);
  execFileSync("cp", ["-a", src, join(cache, "pi", pi.version)]);
  install = join(cache, "pi", pi.version);
  // A copy has new inodes: make it what an older berth left (a manifest without integrity
  // records), which berth must upgrade once by a full hash.
  const marker = JSON.parse(readFileSync(join(install, ".berth-install.json"), "utf8"));
  delete marker.stats;
  delete marker.links;
  writeFileSync(join(install, ".berth-install.json"), JSON.stringify(marker));

  const target = `/opt/berth/harness/node_modules/pi-acp/dist/index.js`;
  const script = parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo 'process.exit(7)' >> ${target}; chmod 777 ${target}; touch /opt/berth/harness/node_modules/planted.js; echo tried $?" } }
  - text: "tried"
`);
  mock = await startMockProvider({ script, requireKey: KEY });
  berth = await startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url, BERTH_HARNESS_CACHE: cache } });
});
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
});

describe("harness cache integrity", () => {
  const acp = () => join(install, "node_modules/pi-acp/dist/index.js");

  it("an install from an older berth is upgraded once (full hash) into a read-only tree, and runs", async () => {
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    const st = statSync(acp());
    expect(st.mode & 0o222).toBe(0);
    expect(statSync(join(install, "node_modules")).mode & 0o7777).toBe(0o555);
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(JSON.parse(readFileSync(join(install, ".berth-install.json"), "utf8")).stats.length).toBeGreaterThan(1000);

    // The agent tries to change the install it runs from: nothing changes.
    const before = { body: readFileSync(acp(), "utf8"), mode: st.mode, ctime: st.ctimeMs };
    const t = await berth.client.postTurn(s.id, "tamper");
    const turn = await collect(berth.client, s.id, turnEnded(t.id));
    expect(JSON.stringify(turn)).toMatch(/tried 1/); // the attempt ran, and failed
    const after = statSync(acp());
    expect({ body: readFileSync(acp(), "utf8"), mode: after.mode, ctime: after.ctimeMs }).toEqual(before);
    expect(() => statSync(join(install, "node_modules/planted.js"))).toThrow();
    await berth.client.endSession(s.id);

    // Unchanged: the next session starts.
    const next = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, next.id, isReady);
    await berth.client.endSession(next.id);
  });

  it("a modified file of the install refuses the next session with harness_tampered naming it, and is not reinstalled over", async () => {
    // The finding: pi-acp edited in the cache ran in the next, unrelated session.
    appendFileSync(acp(), "\n// planted\n");
    const tampered = readFileSync(acp(), "utf8");
    const s = await berth.client.createSession({ harness: "pi" });
    const evs = await collect(berth.client, s.id, isFailed);
    const err = evs.find((e) => e.type === "session.error");
    expect(err?.data).toMatchObject({ code: "harness_tampered", message: expect.stringContaining("node_modules/pi-acp/dist/index.js") });
    expect(readFileSync(acp(), "utf8")).toBe(tampered);
    // No harness process of that session ever started.
    expect(evs.some((e) => e.type === "session.status" && (e.data as any).state === "ready")).toBe(false);
  });
});
