import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";

/**
 * The mock model's script: a list of steps, one per model turn of a single
 * agent run. Parsing, validation and stateless step selection live here; the
 * wire formats only render the chosen step.
 */

const toolCallSchema = z
  .object({
    name: z.string().min(1, "tool name must not be empty"),
    // A string input is meant for freeform tools (Codex `custom` tools such as
    // apply_patch); JSON-schema tools get it wrapped as {"input": "..."}.
    input: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
  })
  .strict();

const errorSchema = z
  .object({
    status: z.number().int().min(400, "status must be 400-599").max(599, "status must be 400-599"),
    message: z.string(),
    /** Overrides the provider's error type (e.g. "overloaded_error", "rate_limit_error"). */
    type: z.string().optional(),
    /** OpenAI `error.code` override (e.g. "rate_limit_exceeded"). */
    code: z.string().optional(),
    /** Sent as `retry-after` (seconds) so client retry loops stay fast and deterministic. */
    retry_after: z.number().nonnegative().optional(),
    /**
     * Serve the error this many times, then move on to the next step. Without it the
     * error is permanent, since a failed request adds no tool result to count.
     */
    times: z.number().int().positive().optional(),
  })
  .strict();

const delaySchema = z.number().int().nonnegative().max(600_000, "must be at most 600000 ms");

const stepSchema = z
  .object({
    text: z.string().optional(),
    thinking: z.string().optional(),
    tool: toolCallSchema.optional(),
    tools: z.array(toolCallSchema).min(1, "tools must list at least one call").optional(),
    delay_ms: delaySchema.optional(),
    chunk_delay_ms: delaySchema.optional(),
    error: errorSchema.optional(),
  })
  .strict()
  .superRefine((step, ctx) => {
    if (step.tool && step.tools) {
      ctx.addIssue({ code: "custom", message: "use either `tool` or `tools`, not both", path: ["tools"] });
    }
    if (step.error && (step.text !== undefined || step.thinking !== undefined || step.tool || step.tools)) {
      ctx.addIssue({ code: "custom", message: "an error step cannot also have text, thinking or tools", path: ["error"] });
    }
    if (!step.error && step.text === undefined && step.thinking === undefined && !step.tool && !step.tools) {
      ctx.addIssue({ code: "custom", message: "a step needs at least one of text, thinking, tool, tools or error" });
    }
  });

export const mockScriptSchema = z
  .object({
    models: z.array(z.string().min(1)).min(1, "models must list at least one name").optional(),
    steps: z.array(stepSchema),
  })
  .strict();

export type MockScript = z.infer<typeof mockScriptSchema>;
export type MockStep = MockScript["steps"][number];
export type MockToolCall = z.infer<typeof toolCallSchema>;
export type MockError = z.infer<typeof errorSchema>;

export const DEFAULT_MODEL = "mock-1";
export const FINISHED_TEXT = "(mock script finished)";
export const SIDE_REQUEST_TEXT = "mock";

/** Used when no script is given: one shell call, then a closing sentence. */
export const DEFAULT_MOCK_SCRIPT: MockScript = {
  models: [DEFAULT_MODEL],
  steps: [
    { tool: { name: "bash", input: { command: "echo 'hello from berth' > hello.txt" } } },
    { text: "Wrote hello.txt." },
  ],
};

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(root)";
}

/** Validates an already-parsed value; errors name the source and the field path. */
export function validateMockScript(value: unknown, source = "<script>"): MockScript {
  const result = mockScriptSchema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join("; ");
  throw new Error(`invalid mock script ${source}: ${details}`);
}

/** Parses YAML or JSON (JSON is YAML) text. */
export function parseMockScript(text: string, source = "<script>"): MockScript {
  const doc = parseDocument(text, { prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const where = first.linePos?.[0] ? ` (line ${first.linePos[0].line}, column ${first.linePos[0].col})` : "";
    throw new Error(`invalid mock script ${source}: not valid YAML/JSON${where}: ${first.message.split("\n")[0]}`);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) throw new Error(`invalid mock script ${source}: file is empty`);
  return validateMockScript(value, source);
}

export function loadMockScript(path: string): MockScript {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read mock script ${path}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  return parseMockScript(text, path);
}

export function stepToolCalls(step: MockStep): MockToolCall[] {
  return step.tools ?? (step.tool ? [step.tool] : []);
}

/** What one request gets, independent of the wire format. */
export type StepSelection =
  | { kind: "step"; index: number; step: MockStep }
  | { kind: "side"; index: number }
  | { kind: "finished"; index: number };

/**
 * Picks the step for a request without conversation state: each tool step is
 * "used up" by the tool results it caused (one per call, so parallel calls
 * count once as a group), and the first step not used up is the answer. With
 * one call per step that is simply "index = number of tool results", so
 * retries and side requests never advance the script.
 *
 * `errorServed` is the only memory: how often each error step with `times`
 * has been served, so a retry after a transient error can move past it.
 */
export function selectStep(
  script: MockScript,
  toolResults: number,
  hasTools: boolean,
  errorServed: Map<number, number>,
): StepSelection {
  let remaining = toolResults;
  for (let i = 0; i < script.steps.length; i++) {
    const step = script.steps[i]!;
    const calls = stepToolCalls(step).length;
    if (remaining > 0) {
      // Results beyond this step's calls belong to later steps; a text or error
      // step cannot have produced results, so it is already behind us.
      remaining = Math.max(0, remaining - calls);
      continue;
    }
    if (step.error) {
      const served = errorServed.get(i) ?? 0;
      if (step.error.times !== undefined && served >= step.error.times) continue;
      return { kind: "step", index: i, step };
    }
    // Background requests (titles, summaries) offer no tools and must not get calls.
    if (calls > 0 && !hasTools) return { kind: "side", index: i };
    return { kind: "step", index: i, step };
  }
  return { kind: "finished", index: script.steps.length };
}

/**
 * Exact name first, then a case-insensitive match (Claude Code calls its shell
 * tool "Bash"), else the scripted name unchanged.
 */
export function resolveToolName(scripted: string, offered: readonly string[]): string {
  if (offered.includes(scripted)) return scripted;
  const lower = scripted.toLowerCase();
  return offered.find((n) => n.toLowerCase() === lower) ?? scripted;
}
