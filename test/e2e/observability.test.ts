import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { API_TOKEN, collect, isReady, startBerth, turnEnded } from "./helpers.js";

// /metrics after a real session (Pi in T1 on the embedded mock model), checked by Prometheus's
// own linter (promtool, from Debian's prometheus package); and the server log of that session.
describe("/metrics and the server log", () => {
  it("passes `promtool check metrics`, with build info and turn and sandbox-start histograms; the log follows the session", async () => {
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
      // The request line is written once the response is out: give it a moment to arrive.
      for (let i = 0; i < 40 && !berth.log().includes(`"method":"DELETE","path":"/v1/sessions/${s.id}"`); i++) await new Promise((r) => setTimeout(r, 50));

      // The log: JSON lines with ISO times and level names; the session's life step by step,
      // each line naming it; one line per API call; the API token nowhere.
      const lines = berth
        .log()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const l of lines) {
        expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(["trace", "debug", "info", "warn", "error", "fatal"]).toContain(l.level);
      }
      const mine = lines.filter((l) => l.sessionId === s.id);
      const steps = mine.filter((l) => l.msg !== "request" && l.msg !== "session progress").map((l) => l.msg);
      expect(steps).toEqual(["session created", "sandbox started", "session ready", "session running", "turn started", "turn ended", "session ready", "sandbox exited", "session ended"]);
      expect(mine.find((l) => l.msg === "session created")).toMatchObject({ harness: "pi", tier: "process", model: "mock-1" });
      expect(mine.find((l) => l.msg === "turn ended")).toMatchObject({ turnId: t.id, stopReason: "end_turn" });
      const requests = lines.filter((l) => l.msg === "request");
      expect(requests).toContainEqual(expect.objectContaining({ method: "POST", path: "/v1/sessions", status: 201 }));
      expect(requests).toContainEqual(expect.objectContaining({ method: "POST", path: `/v1/sessions/${s.id}/turns`, status: 202, sessionId: s.id }));
      expect(requests).toContainEqual(expect.objectContaining({ method: "DELETE", path: `/v1/sessions/${s.id}`, status: 200 }));
      // An event stream is logged when it ends, with how many events it carried.
      expect(requests).toContainEqual(expect.objectContaining({ path: `/v1/sessions/${s.id}/events`, stream: true, events: expect.any(Number) }));
      expect(berth.log()).not.toContain(API_TOKEN);
    } finally {
      await berth.stop();
    }
  });
});
