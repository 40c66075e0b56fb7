import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DEFAULT_MOCK_SCRIPT,
  loadMockScript,
  parseMockScript,
  resolveToolName,
  selectStep,
  type MockScript,
} from "../../src/mock/index.js";

const dir = mkdtempSync(join(tmpdir(), "berth-mock-script-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parseMockScript", () => {
  it("parses the documented YAML shape", () => {
    const script = parseMockScript(
      [
        "models: [mock-1, mock-2]",
        "steps:",
        '  - text: "I\'ll write the file."',
        "    thinking: plan...",
        '    tool: { name: bash, input: { command: "echo hi > hello.txt" } }',
        "    delay_ms: 200",
        "    chunk_delay_ms: 5",
        "  - tools: [{ name: read, input: { path: a } }, { name: read, input: { path: b } }]",
        '  - error: { status: 529, message: "Overloaded" }',
        '  - text: "Done."',
      ].join("\n"),
      "demo.yaml",
    );
    expect(script.models).toEqual(["mock-1", "mock-2"]);
    expect(script.steps).toHaveLength(4);
    expect(script.steps[0]).toMatchObject({ thinking: "plan...", delay_ms: 200, tool: { name: "bash" } });
    expect(script.steps[1]!.tools).toHaveLength(2);
    expect(script.steps[2]!.error).toEqual({ status: 529, message: "Overloaded" });
  });

  it("accepts JSON", () => {
    const script = parseMockScript(JSON.stringify({ steps: [{ text: "hi" }] }), "s.json");
    expect(script).toEqual({ steps: [{ text: "hi" }] });
  });

  it.each([
    ["steps:\n  - text: a\n  - tool: { name: 42 }\n", "steps[1].tool.name"],
    ["steps:\n  - txt: typo\n", "steps[0]"],
    ["steps:\n  - text: a\n    tool: { name: x }\n    tools: [{ name: y }]\n", "steps[0].tools"],
    ["steps:\n  - error: { status: 529, message: x }\n    text: also\n", "steps[0].error"],
    ["steps:\n  - error: { status: 200, message: x }\n", "steps[0].error.status"],
    ["steps:\n  - delay_ms: 5\n", "steps[0]"],
    ["steps:\n  - text: a\n    delay_ms: -1\n", "steps[0].delay_ms"],
    ["models: []\nsteps: []\n", "models"],
    ["stepz: []\n", "(root)"],
  ])("rejects %j naming the file and %s", (text, path) => {
    let message = "";
    try {
      parseMockScript(text, "bad.yaml");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("bad.yaml");
    expect(message).toContain(`${path}:`);
  });

  it("names unknown keys", () => {
    expect(() => parseMockScript("steps:\n  - txt: typo\n", "t.yaml")).toThrow(/txt/);
  });

  it("reports YAML syntax errors with a position", () => {
    expect(() => parseMockScript("steps: [\n  - text: a\n", "broken.yaml")).toThrow(
      /invalid mock script broken\.yaml: not valid YAML\/JSON \(line \d+, column \d+\)/,
    );
  });

  it("rejects an empty file", () => {
    expect(() => parseMockScript("", "empty.yaml")).toThrow("invalid mock script empty.yaml: file is empty");
  });
});

describe("loadMockScript", () => {
  it("loads a file", () => {
    const file = join(dir, "ok.yaml");
    writeFileSync(file, "steps:\n  - text: hello\n");
    expect(loadMockScript(file).steps).toEqual([{ text: "hello" }]);
  });

  it("names a missing file", () => {
    const file = join(dir, "missing.yaml");
    expect(() => loadMockScript(file)).toThrow(`cannot read mock script ${file}: no such file`);
  });

  it("names the file when validation fails", () => {
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ steps: [{ tool: { input: {} } }] }));
    expect(() => loadMockScript(file)).toThrow(`invalid mock script ${file}: steps[0].tool.name:`);
  });
});

describe("selectStep", () => {
  const script: MockScript = {
    steps: [
      { tool: { name: "a" } },
      { tools: [{ name: "b" }, { name: "c" }] },
      { text: "done" },
    ],
  };
  const pick = (results: number, hasTools = true, served = new Map<number, number>()) =>
    selectStep(script, results, hasTools, served);

  it("counts tool results, a parallel step consuming one result per call", () => {
    expect(pick(0)).toMatchObject({ kind: "step", index: 0 });
    expect(pick(1)).toMatchObject({ kind: "step", index: 1 });
    expect(pick(3)).toMatchObject({ kind: "step", index: 2 });
    expect(pick(4)).toEqual({ kind: "finished", index: 3 });
  });

  it("answers tool-less requests at a tool step as side requests", () => {
    expect(pick(0, false)).toEqual({ kind: "side", index: 0 });
    expect(pick(3, false)).toMatchObject({ kind: "step", index: 2 });
  });

  it("keeps an error step until it has been served `times` times", () => {
    const s: MockScript = { steps: [{ error: { status: 529, message: "x", times: 2 } }, { text: "ok" }] };
    const served = new Map<number, number>();
    expect(selectStep(s, 0, true, served)).toMatchObject({ index: 0 });
    served.set(0, 2);
    expect(selectStep(s, 0, true, served)).toMatchObject({ index: 1 });
    const sticky: MockScript = { steps: [{ error: { status: 500, message: "x" } }, { text: "ok" }] };
    expect(selectStep(sticky, 0, false, new Map([[0, 10]]))).toMatchObject({ index: 0 });
  });

  it("the default script calls bash, then says it wrote the file", () => {
    expect(DEFAULT_MOCK_SCRIPT.steps[0]!.tool).toEqual({
      name: "bash",
      input: { command: "echo 'hello from berth' > hello.txt" },
    });
    expect(DEFAULT_MOCK_SCRIPT.steps[1]!.text).toBe("Wrote hello.txt.");
  });
});

describe("resolveToolName", () => {
  it("prefers exact, then case-insensitive, else the scripted name", () => {
    expect(resolveToolName("bash", ["Bash", "bash"])).toBe("bash");
    expect(resolveToolName("bash", ["Read", "Bash"])).toBe("Bash");
    expect(resolveToolName("bash", ["shell"])).toBe("bash");
    expect(resolveToolName("bash", [])).toBe("bash");
  });
});
