import type { BerthEvent } from "berth-client";
import { colorFor, painter } from "./color.js";

/** Renders berth events as a readable live transcript. Keeps track of whether a line is open. */
export class Transcript {
  private midLine = false;
  private titles = new Map<string, string>();
  /** Per running tool call: the input printed with it, and the latest one an update carried. */
  private inputs = new Map<string, { shown: string; last: string }>();

  private readonly paint: ReturnType<typeof painter>;

  constructor(
    private out: (s: string) => void = (s) => process.stdout.write(s),
    color = colorFor(process.stdout),
  ) {
    this.paint = painter(color);
  }

  private line(s: string) {
    if (this.midLine) this.out("\n");
    this.midLine = false;
    this.out(s + "\n");
  }

  render(ev: BerthEvent): void {
    switch (ev.type) {
      case "session.status":
        if (ev.data.detail) this.line(this.paint.dim(`· ${ev.data.detail}`));
        else if (ev.data.state === "ready" || ev.data.state === "failed" || ev.data.state === "interrupted" || ev.data.state === "ended")
          this.line(this.paint.dim(`· session ${ev.data.state}${ev.data.reason ? `: ${ev.data.reason}` : ""}`));
        break;
      case "message.delta":
        if (typeof ev.data.text === "string") {
          this.out(ev.data.text);
          this.midLine = !ev.data.text.endsWith("\n");
        }
        break;
      case "thought.delta":
        if (typeof ev.data.text === "string") {
          this.out(this.paint.dim(ev.data.text));
          this.midLine = !ev.data.text.endsWith("\n");
        }
        break;
      case "tool.call": {
        const title = ev.data.title ?? ev.data.kind ?? "tool";
        this.titles.set(ev.data.toolCallId, title);
        const input = inputText(ev.data.input);
        this.inputs.set(ev.data.toolCallId, { shown: input, last: input });
        this.line(`${this.paint.yellow("▸")} ${this.paint.bold(title)}${input ? ` ${this.paint.dim(input)}` : ""}`);
        break;
      }
      case "tool.update": {
        // Harnesses announce a call while its arguments still stream in; the final ones come in updates.
        const seen = this.inputs.get(ev.data.toolCallId);
        if (seen && ev.data.input !== undefined) seen.last = inputText(ev.data.input);
        if (ev.data.status === "completed" || ev.data.status === "failed") {
          const mark = ev.data.status === "completed" ? this.paint.green("✓") : this.paint.red("✗");
          const input = seen?.last && seen.last !== seen.shown ? ` ${this.paint.dim(seen.last)}` : "";
          const text = typeof ev.data.text === "string" && ev.data.text.trim() ? ` ${this.paint.dim(truncate(ev.data.text.trim().replace(/\s+/g, " "), 160))}` : "";
          this.line(`  ${mark} ${this.titles.get(ev.data.toolCallId) ?? ev.data.toolCallId} ${ev.data.status}${input}${text}`);
          this.inputs.delete(ev.data.toolCallId);
        }
        break;
      }
      case "permission.requested":
        if (ev.data.policy !== "ask") break;
        this.line(`${this.paint.yellow("?")} permission requested: ${ev.data.toolCall?.title ?? "tool"}`);
        break;
      case "permission.resolved":
        if (ev.data.by !== "policy") this.line(this.paint.dim(`  permission ${ev.data.kind ?? ev.data.outcome} (${ev.data.by})`));
        break;
      case "session.error":
        this.line(this.paint.red(`error ${ev.data.code}: ${ev.data.message}`));
        break;
      case "turn.ended":
        this.line(this.paint.dim(`· turn ended: ${ev.data.stopReason}`));
        break;
      case "workspace.changed": {
        const { added, modified, deleted } = ev.data;
        const names = ev.data.files.slice(0, 5).map((f) => f.path).join(", ");
        this.line(this.paint.dim(`· files: ${added} added, ${modified} modified, ${deleted} deleted (${names}${ev.data.files.length > 5 || ev.data.truncated ? ", …" : ""})`));
        break;
      }
      // Bookkeeping a reader of the transcript doesn't need (the JSON output has it all).
      case "turn.queued":
      case "turn.started":
      case "plan":
      case "usage":
      case "model.call":
      case "workspace.neutralized":
        break;
    }
  }
}

function inputText(input: unknown): string {
  return input && typeof input === "object" && Object.keys(input).length ? truncate(JSON.stringify(input), 160) : "";
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/** Exit code for a stop reason: 0 end_turn, 1 error, 3 refusal, 4 a limit (max_tokens, max_turn_requests, budget_exceeded, a turn deadline), 130 cancelled. */
export function exitCodeFor(stopReason: string | undefined): number {
  switch (stopReason) {
    case "end_turn":
      return 0;
    case "cancelled":
      return 130;
    case "refusal":
      return 3;
    case "max_tokens":
    case "max_turn_requests":
    case "budget_exceeded":
    case "turn_timeout":
    case "idle_timeout":
    case "first_event_timeout":
      return 4;
    default:
      return 1;
  }
}
