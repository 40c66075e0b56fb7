import type { Interface } from "node:readline/promises";
import type { BerthEvent, Session } from "berth-client";
import type { Transcript } from "./transcript.js";

export interface FollowedTurn {
  /** The turn's stop reason as the CLI reports it (exit code: transcript.ts exitCodeFor). */
  stopReason: string;
  events: BerthEvent[];
}

/**
 * Follows a session's events from `after`, printing them (a transcript, or NDJSON), asking
 * the person at the terminal about permission requests when `ask` is given, until the turn
 * `turnId()` names ends (or the session fails). `onReady` runs once the session is ready
 * (`berth run` posts its turn then). Shared by `berth run` and `berth sessions turn`.
 */
export async function followTurn(
  session: Session,
  o: {
    after: number;
    turnId: () => string | undefined;
    out: Transcript | "ndjson";
    ask?: Interface;
    signal?: AbortSignal;
    onReady?: () => Promise<void>;
  },
): Promise<FollowedTurn> {
  const events: BerthEvent[] = [];
  // A turn whose last model call failed did not succeed, whatever stop reason the harness gives.
  let lastModelCallFailed = false;
  let budgetSpent = false;
  for await (const ev of session.events({ after: o.after, ...(o.signal ? { signal: o.signal } : {}) })) {
    if (o.out === "ndjson") process.stdout.write(JSON.stringify(ev) + "\n");
    else o.out.render(ev);
    const mine = ev.turnId !== undefined && ev.turnId === o.turnId();
    if (mine) events.push(ev);
    if (ev.type === "session.status" && ev.data.state === "ready") await o.onReady?.();
    else if (ev.type === "session.status" && (ev.data.state === "failed" || ev.data.state === "interrupted" || ev.data.state === "ended"))
      return { stopReason: "error", events };
    else if (ev.type === "permission.requested" && ev.data.policy === "ask" && o.ask) {
      const answer = await o.ask.question(`  allow ${ev.data.toolCall?.title ?? "this tool call"}? [y/N] `);
      await session.respond(ev, /^y(es)?$/i.test(answer.trim()) ? "allow" : "deny").catch(() => {});
    } else if (ev.type === "session.error" && ev.data.code === "budget_exceeded") budgetSpent = true;
    else if (ev.type === "model.call") lastModelCallFailed = ev.data.status >= 400;
    else if (ev.type === "turn.ended" && mine) {
      const reported = ev.data.stopReason ?? "cancelled";
      return { stopReason: budgetSpent ? "budget_exceeded" : reported === "end_turn" && lastModelCallFailed ? "error" : reported, events };
    }
  }
  return { stopReason: "cancelled", events };
}
