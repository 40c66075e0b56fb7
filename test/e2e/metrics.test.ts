import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { collect, isReady, startBerth, turnEnded } from "./helpers.js";

// /metrics after a real session (Pi in T1 on the embedded mock model), checked by Prometheus's
// own linter (promtool, from Debian's prometheus package).
describe("/metrics", () => {
  it("passes `promtool check metrics`, with build info and turn and sandbox-start histograms", async () => {
    const promtool = await promisify(execFile)("promtool", ["--version"]).catch(() => undefined);
    if (!promtool) throw new Error("promtool is missing: install Debian's prometheus package (apt-get install --no-install-recommends prometheus; scripts/setup.sh does)");
    const berth = await startBerth();
    try {
      const s = await berth.client.createSession({ harness: "pi" });
      await collect(berth.client, s.id, isReady);
      const t = await berth.client.postTurn(s.id, "Create hello.txt");
      await collect(berth.client, s.id, turnEnded(t.id));
      const text = await (await fetch(`${berth.url}/metrics`)).text();
      const check = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = execFile("promtool", ["check", "metrics"], (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: stdout + stderr }));
        child.stdin!.end(text);
      });
      expect(check.out).toBe("");
      expect(check.code).toBe(0);
      expect(text).toMatch(/^berth_build_info\{version="\d+\.\d+\.\d+[^"]*",node="\d+\.\d+\.\d+"\} 1$/m);
      expect(text).toMatch(/^berth_turn_duration_seconds_count\{harness="pi",stop_reason="end_turn"\} 1$/m);
      expect(text).toMatch(/^berth_sandbox_start_seconds_count\{tier="process",driver="bwrap",outcome="ok"\} 1$/m);
      await berth.client.endSession(s.id);
    } finally {
      await berth.stop();
    }
  });
});
