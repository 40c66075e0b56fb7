import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Berth } from "../../packages/client/src/index.js";
import { toolLoopScript, useMockedBerth } from "./harness-contract.js";
import { API_TOKEN } from "./helpers.js";

// Agent Skills with a real Pi in T1 and T2: one skill from the operator's directory
// (BERTH_SKILLS_DIR), one uploaded with the request. Pi lists both in its system prompt
// (the model's request shows their descriptions); the agent's shell sees them under
// ~/.pi/agent/skills and cannot change them.

const CANARY = "sk-ant-api03-SKILLCANARY" + "S".repeat(40);
const operatorDir = mkdtempSync(join(tmpdir(), "berth-skills-"));
chmodSync(operatorDir, 0o755);
mkdirSync(join(operatorDir, "release-notes"));
writeFileSync(join(operatorDir, "release-notes", "SKILL.md"), "---\nname: release-notes\ndescription: Writes release notes in the OPERATOR-HOUSE-STYLE.\n---\n\nUse the house style.\n");

const script = toolLoopScript({
  name: "bash",
  input: { command: "ls ~/.pi/agent/skills; touch ~/.pi/agent/skills/release-notes/planted 2>&1; echo 'rm:'; rm -f ~/.pi/agent/skills/code-review/SKILL.md 2>&1; echo done" },
});
const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock", BERTH_SKILLS_DIR: operatorDir }) });

const uploaded = {
  name: "code-review",
  files: {
    "SKILL.md": "---\nname: code-review\ndescription: Reviews code with the UPLOADED-CHECKLIST.\n---\n\nSee checklist.md.\n",
    "checklist.md": "1. Tests\n",
  },
};

for (const tier of ["process", "container"] as const)
  describe(`skills on tier ${tier}`, () => {
    it("puts operator and uploaded skills where Pi reads them, read-only, and Pi tells the model about them", async () => {
      const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
      const session = await berth.createSession({ harness: "pi", tier, skills: ["release-notes", uploaded] });
      expect(session.info).toMatchObject({});
      await session.ready();
      ctx.mock.requests.length = 0;
      const result = await session.prompt("Which skills do you have?");
      expect(result.stopReason).toBe("end_turn");
      const bodies = ctx.mock.requests.map((r) => r.body ?? "").join("\n");
      expect(bodies).toContain("OPERATOR-HOUSE-STYLE");
      expect(bodies).toContain("UPLOADED-CHECKLIST");
      const out = JSON.stringify(result.events.filter((e) => e.type === "tool.update").map((e) => e.data.output));
      expect(out).toContain("code-review");
      expect(out).toContain("release-notes");
      expect(out).toMatch(/Read-only file system/);
      await session.end();
    });
  });

describe("skills: bad requests", () => {
  it("are refused before anything starts, naming what is wrong", async () => {
    const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
    await expect(berth.createSession({ harness: "pi", skills: ["no-such-skill"] })).rejects.toMatchObject({ status: 400, code: "invalid_skill" });
    await expect(berth.createSession({ harness: "pi", skills: [{ name: "x", files: { "README.md": "no SKILL.md" } }] })).rejects.toMatchObject({ status: 400, code: "invalid_skill" });
    await expect(berth.createSession({ harness: "pi", skills: [{ name: "x", files: { "SKILL.md": "s", "../../escape": "x" } }] })).rejects.toMatchObject({ status: 400 });
    await expect(berth.createSession({ harness: "pi", skills: ["../etc"] })).rejects.toMatchObject({ status: 400 });
  });
});
