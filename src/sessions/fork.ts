import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LocalWorkspaceFiles } from "../files/local.js";
import { conflict, notFound } from "../util/errors.js";
import type { WorkspaceSnapshots } from "./snapshots.js";
import type { CreateSessionInput, ForkInput } from "./contract.js";
import type { SessionRecord, TurnRecord } from "./types.js";

// What a fork is made of (manager.fork() runs it): the turn it is taken at, the create
// request of the new session, which is the source's own settings (never its secrets: those
// lived in the source's memory only, and the caller passes them again), and what it copies.

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

/**
 * Everything a fork needs on disk before its harness starts: the workspace from the source's
 * snapshot (git archive, extracted in a bubblewrap view of the fork's workspace), the
 * source's skills, and, when `nativeHistory`, the source's HOME (copyHome). Returns whether
 * that HOME was copied, i.e. whether the fork's harness may restore the conversation itself.
 */
export async function prepareFork(o: {
  snapshots: WorkspaceSnapshots;
  source: { id: string; dir: string; tokens: string[] };
  fork: { workspace: string; dir: string };
  ref: string;
  nativeHistory: boolean;
  tmpDir: string;
}): Promise<boolean> {
  mkdirSync(o.tmpDir, { recursive: true, mode: 0o700 });
  const tar = join(o.tmpDir, `fork-${randomUUID()}.tar`);
  try {
    await o.snapshots.archive(o.source.id, o.ref, tar);
    await new LocalWorkspaceFiles(o.fork.workspace).extract(tar, "");
  } finally {
    rmSync(tar, { force: true });
  }
  const skills = join(o.source.dir, "skills");
  if (existsSync(skills)) cpSync(skills, join(o.fork.dir, "skills"), { recursive: true, verbatimSymlinks: true });
  return o.nativeHistory && copyHome(join(o.source.dir, "home"), join(o.fork.dir, "home"), o.source.tokens);
}

/** Files bigger than this are not scrubbed (nor plausibly a harness's config or history). */
const MAX_SCRUB_BYTES = 64 * 1024 * 1024;

/**
 * Copies the source session's HOME (its harness's history and settings) into the fork's,
 * as they are: owners, modes and links kept (cp -a). The source's live gateway tokens are
 * replaced wherever a file holds one, so the fork's agent cannot spend as the source. The
 * harness's own config is rewritten with the fork's token at its launch. False when there
 * is nothing to copy.
 */
export function copyHome(from: string, to: string, tokens: string[]): boolean {
  if (!existsSync(from)) return false;
  mkdirSync(dirname(to), { recursive: true, mode: 0o711 });
  execFileSync("cp", ["-a", "--no-dereference", "--", `${from}/.`, to], { stdio: ["ignore", "ignore", "pipe"] });
  if (tokens.length === 0) return true;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size <= MAX_SCRUB_BYTES) {
        const text = readFileSync(p, "latin1");
        if (!tokens.some((t) => text.includes(t))) continue;
        writeFileSync(p, tokens.reduce((acc, t) => acc.split(t).join("[REDACTED]"), text), "latin1");
      }
    }
  };
  walk(to);
  return true;
}
