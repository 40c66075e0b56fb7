import { parseEnv } from "../config/env.js";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { Command } from "commander";
import { startServer, type BerthServer } from "../app.js";
import { PERMISSION_POLICIES, type PermissionPolicy } from "../sessions/contract.js";
import { WorkspaceConfigError } from "../sessions/workspace.js";
import { Berth, BerthError, type Session } from "berth-client";
import { getHarness } from "../harnesses/registry.js";
import { redactor } from "../secrets/redact.js";
import { createLogger } from "../telemetry/logger.js";
import { err } from "./color.js";
import { remote, UsageError } from "./common.js";
import { followTurn } from "./follow-turn.js";
import { exitCodeFor, Transcript } from "./transcript.js";

interface RunOptions {
  harness: string;
  model?: string;
  workspace?: string;
  tier?: string;
  permissionPolicy?: PermissionPolicy;
  systemPrompt?: string;
  server?: string;
  json?: boolean;
  keep?: boolean;
  maxTokens?: string;
  maxCostUsd?: string;
}

export function runCommand(): Command {
  return new Command("run")
    .description("run one prompt through a harness in a sandbox and print the live transcript")
    .argument("<prompt...>", "the prompt")
    .option("--harness <id>", "harness id", "pi")
    .option("--model <model>", "model id (default: the server's default model)")
    .option("--workspace <dir>", "existing directory the agent works in (default: a fresh one)")
    .option("--tier <tier>", "isolation tier: process (default), host, or t0..t4")
    .option("--permission-policy <policy>", "allow | deny | ask (default: ask on a terminal, else allow)")
    .option("--system-prompt <text>", "extra instructions for the agent")
    .option("--server <url>", "use a running berth server (default: start one in this process; BERTH_URL also selects one)")
    .option("--json", "print events as NDJSON instead of a transcript")
    .option("--keep", "leave the session open at the end (default: end it)")
    .option("--max-tokens <n>", "token budget for the session: model calls stop once it is spent")
    .option("--max-cost-usd <usd>", "cost budget for the session in USD (the model needs a price in the provider registry)")
    .action(async (words: string[], opts: RunOptions) => {
      process.exitCode = await run(words.join(" "), opts);
    });
}

async function run(prompt: string, opts: RunOptions): Promise<number> {
  if (opts.workspace) {
    opts.workspace = resolve(opts.workspace);
    if (!existsSync(opts.workspace) || !statSync(opts.workspace).isDirectory())
      throw new UsageError(`--workspace is not an existing directory: ${opts.workspace}`);
  }
  if (opts.permissionPolicy && !(PERMISSION_POLICIES as readonly string[]).includes(opts.permissionPolicy))
    throw new UsageError(`--permission-policy must be allow, deny or ask, not '${opts.permissionPolicy}'`);
  const budget = {
    ...(opts.maxTokens !== undefined ? { maxTokens: positive("--max-tokens", opts.maxTokens, true) } : {}),
    ...(opts.maxCostUsd !== undefined ? { maxCostUsd: positive("--max-cost-usd", opts.maxCostUsd, false) } : {}),
  };
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  // Ask on a terminal, when the harness asks at all (Pi and Codex never do).
  const policy = opts.permissionPolicy ?? (interactive && getHarness(opts.harness)?.asksPermission ? "ask" : "allow");

  let server: BerthServer | undefined;
  let berth: Berth;
  const settings = parseEnv(process.env);
  const url = opts.server ?? settings.BERTH_URL;
  if (url) berth = remote({ url });
  else {
    // The person typing this is the operator: the workspace they name is allowed for this run.
    server = await startServer({
      config: { port: 0, ...(opts.workspace ? { exactWorkspaces: [opts.workspace] } : {}) },
      logger: createLogger(redactor, { level: settings.BERTH_LOG_LEVEL ?? "warn" }),
    }).catch((e) => {
      throw e instanceof WorkspaceConfigError ? new UsageError(e.message) : e;
    });
    berth = Berth.connect({ baseUrl: server.url, token: server.apiToken });
    if (server.usingMock && !opts.model)
      process.stderr.write(err.dim(`berth: no provider key configured; using berth's scripted mock model (set ANTHROPIC_API_KEY for a real one)\n`));
  }

  let session: Session;
  try {
    session = await berth.createSession({
      harness: opts.harness,
      ...(opts.model ? { model: opts.model } : {}),
      ...(opts.workspace ? { workspace: opts.workspace } : {}),
      ...(opts.tier ? { tier: opts.tier } : {}),
      ...(opts.systemPrompt ? { systemPrompt: opts.systemPrompt } : {}),
      permissionPolicy: policy,
      ...(Object.keys(budget).length ? { budget } : {}),
    });
  } catch (e) {
    await server?.close();
    if (e instanceof BerthError && e.status >= 400 && e.status < 500) throw new UsageError(e.message);
    throw e;
  }
  const s = session.info;
  if (!opts.json) process.stderr.write(err.dim(`berth: session ${s.id} (${s.harness} ${s.harnessVersion}, model ${s.model}, tier ${s.tier}, workspace ${s.workspace})\n`));

  const abort = new AbortController();
  let turnId: string | undefined;
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1 && turnId) {
      process.stderr.write(err.dim("\nberth: cancelling the turn (Ctrl-C again to quit)\n"));
      void session.cancel().catch(() => {});
    } else abort.abort();
  };
  process.on("SIGINT", onSigint);
  const ask = interactive && policy === "ask" ? createInterface({ input: process.stdin, output: process.stdout }) : undefined;
  try {
    // The turn is posted once the session is ready, so the transcript shows the start first.
    const done = await followTurn(session, {
      after: 0,
      turnId: () => turnId,
      out: opts.json ? "ndjson" : new Transcript(),
      ...(ask ? { ask } : {}),
      signal: abort.signal,
      onReady: async () => {
        turnId ??= (await session.send(prompt)).id;
      },
    });
    return exitCodeFor(done.stopReason);
  } finally {
    process.off("SIGINT", onSigint);
    ask?.close();
    if (!opts.keep) await session.end().catch(() => {});
    await server?.close();
  }
}

function positive(flag: string, raw: string, integer: boolean): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} must be a positive ${integer ? "integer" : "number"}, not '${raw}'`);
  return n;
}
