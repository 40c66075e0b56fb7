import { conflict, notFound } from "../util/errors.js";
import type { CreateSessionInput, ForkInput } from "./contract.js";
import type { SessionRecord, TurnRecord } from "./types.js";

// What a fork is made of (manager.fork() runs it): the turn it is taken at, and the create
// request of the new session, which is the source's own settings (never its secrets: those
// lived in the source's memory only, and the caller passes them again).

const ended = (t: TurnRecord) => t.state !== "queued" && t.state !== "running";

/** The turn a fork is taken at: the one asked for (ended), else the last ended turn; undefined when none has ended. */
export function forkPoint(sessionId: string, turns: TurnRecord[], atTurn?: string): TurnRecord | undefined {
  if (!atTurn) return turns.filter(ended).at(-1);
  const at = turns.find((t) => t.id === atTurn);
  if (!at) throw notFound("turn_not_found", `no turn ${atTurn} in session ${sessionId}`);
  if (!ended(at)) throw conflict("turn_running", `turn ${at.id} has not ended; fork at a turn that has, or wait for its turn.ended`);
  return at;
}

/** The new session's create request: the source's harness, model, tier and settings. */
export function forkRequest(src: SessionRecord, input: ForkInput): CreateSessionInput {
  const s = src.settings;
  const metadata = input.metadata ?? s.metadata;
  return {
    harness: src.harness,
    model: src.model,
    tier: src.tier,
    ...(s.systemPrompt ? { systemPrompt: s.systemPrompt } : {}),
    mcpServers: s.mcpServers as CreateSessionInput["mcpServers"],
    permissionPolicy: s.permissionPolicy as CreateSessionInput["permissionPolicy"],
    permissionTimeoutMs: s.permissionTimeoutMs,
    ...(metadata ? { metadata } : {}),
    ...(s.writablePaths ? { writablePaths: s.writablePaths as CreateSessionInput["writablePaths"] } : {}),
    ...(s.provider ? { provider: s.provider } : {}),
    ...(input.secrets ? { secrets: input.secrets } : {}),
    network: { allow: s.egressAllow ?? [], allowPrivateAddresses: s.egressAllowPrivate ?? false },
    git: { hosts: s.gitHosts ?? [] },
    ...(s.budget ? { budget: s.budget } : {}),
    ...(s.deadlines ? { deadlines: s.deadlines } : {}),
  };
}
