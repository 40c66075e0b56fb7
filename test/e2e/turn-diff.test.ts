import { chownSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Berth } from "../../packages/client/src/index.js";
import { toolLoopScript, useMockedBerth, WRITE_PROMPT } from "./harness-contract.js";
import { API_TOKEN, newWorkspace } from "./helpers.js";

// What a turn changed: a real Pi in T1 edits its workspace; berth's snapshots (outside the
// sandbox) give the turn's diff and a workspace.changed event.
const CANARY = "sk-ant-api03-DIFFCANARY" + "D".repeat(40);
const script = toolLoopScript({
  name: "bash",
  input: { command: "printf 'new file\\n' > out.txt && printf 'one\\nTWO\\n' > keep.txt && rm gone.txt && ls \"$HOME/../../snapshots\" 2>&1; echo done" },
});
const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) });

describe("a turn's diff", () => {
  it("lists what the agent added, modified and deleted, with the patch; the event says so; the store is out of the agent's reach", async () => {
    const ws = newWorkspace();
    writeFileSync(join(ws, "keep.txt"), "one\ntwo\n");
    writeFileSync(join(ws, "gone.txt"), "bye\n");
    symlinkSync("/etc/hostname", join(ws, "link"));
    mkdirSync(join(ws, "node_modules"));
    writeFileSync(join(ws, ".gitignore"), "node_modules/\n");
    for (const f of ["keep.txt", "gone.txt", ".gitignore", "node_modules"]) chownSync(join(ws, f), 1000, 1000);
    const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
    const session = await berth.createSession({ harness: "pi", workspace: ws });
    await session.ready();
    const result = await session.prompt(WRITE_PROMPT);
    expect(result.stopReason).toBe("end_turn");

    const changed = result.events.find((e) => e.type === "workspace.changed");
    expect(changed?.data).toMatchObject({ added: 1, modified: 1, deleted: 1, truncated: false });
    // Reported before the turn's end, so a client waiting for turn.ended has it.
    expect(result.events.indexOf(changed!)).toBeLessThan(result.events.findIndex((e) => e.type === "turn.ended"));

    const diff = await session.diff(result.turn.id);
    expect(diff.files).toEqual([
      { path: "gone.txt", change: "deleted", binary: false, additions: 0, deletions: 1 },
      { path: "keep.txt", change: "modified", binary: false, additions: 1, deletions: 1 },
      { path: "out.txt", change: "added", binary: false, additions: 1, deletions: 0 },
    ]);
    expect(diff.patch).toContain("-two\n+TWO");
    expect(diff.patch).toContain("+new file");
    // The agent could not see berth's snapshot store from inside its sandbox.
    const tool = result.events.find((e) => e.type === "tool.update" && e.data.status === "completed");
    expect(JSON.stringify(tool?.data.output ?? "")).toMatch(/No such file or directory/);
    expect(readdirSync(join(ctx.berth.home, "snapshots"))).toContain(`${session.id}.git`);

    await expect(session.diff("turn_nope")).rejects.toMatchObject({ status: 404, code: "turn_not_found" });
    await session.end();
  });
});
