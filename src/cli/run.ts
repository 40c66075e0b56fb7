import { parseEnv } from "../config/env.js";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { Command } from "commander";
import { startServer, type BerthServer } from "../app.js";
import { PERMISSION_POLICIES, type PermissionPolicy } from "../sessions/contract.js";
import { WorkspaceConfigError } from "../sessions/workspace.js";
import { BerthApiError, BerthClient } from "../client/client.js";
import { getHarness } from "../harnesses/registry.js";
import { redactor } from "../secrets/redact.js";
import { createLogger } from "../telemetry/logger.js";
import { remoteClient, UsageError } from "./common.js";
import { dim, exitCodeFor, Transcript } from "./transcript.js";

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
  let client: BerthClient;
  const settings = parseEnv(process.env);
  const remote = opts.server ?? settings.BERTH_URL;
  if (remote) client = remoteClient(remote);
  else {
    // The person typing this is the operator: the workspace they name is allowed for this run.
    server = await startServer({
      config: { port: 0, ...(opts.workspace ? { exactWorkspaces: [opts.workspace] } : {}) },
      logger: createLogger(redactor, { level: settings.BERTH_LOG_LEVEL ?? "warn" }),
    }).catch((e) => {
      throw e instanceof WorkspaceConfigError ? new UsageError(e.message) : e;
    });
    client = new BerthClient(server.url, server.apiToken);
    if (server.usingMock && !opts.model)
      process.stderr.write(dim(`berth: no provider key configured; using berth's scripted mock model (set ANTHROPIC_API_KEY for a real one)\n`));
  }

  const out = new Transcript();
  let session;
  try {
    session = await client.createSession({
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
    if (e instanceof BerthApiError && e.status < 500) throw new UsageError(e.message);
    throw e;
  }
  if (!opts.json) process.stderr.write(dim(`berth: session ${session.id} (${session.harness} ${session.harnessVersion}, model ${session.model}, tier ${session.tier}, workspace ${session.workspace})\n`));

  const abort = new AbortController();
  let turnId: string | undefined;
  let stopReason: string | undefined;
  // A turn whose last model call failed did not succeed, whatever stop reason the harness gives.
  let lastModelCallFailed = false;
  let budgetSpent = false;
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1 && turnId) {
      process.stderr.write(dim("\nberth: cancelling the turn (Ctrl-C again to quit)\n"));
      void client.cancel(session.id).catch(() => {});
    } else abort.abort();
  };
  process.on("SIGINT", onSigint);
  const rl = interactive && policy === "ask" ? createInterface({ input: process.stdin, output: process.stdout }) : undefined;
  try {
    for await (const ev of client.events(session.id, { signal: abort.signal })) {
      if (opts.json) process.stdout.write(JSON.stringify(ev) + "\n");
      else out.render(ev);
      if (ev.type === "session.status" && ev.data.state === "ready" && !turnId) {
        turnId = (await client.postTurn(session.id, prompt)).id;
      } else if (ev.type === "session.status" && (ev.data.state === "failed" || ev.data.state === "interrupted")) {
        stopReason = "error";
        break;
      } else if (ev.type === "permission.requested" && ev.data.policy === "ask" && rl) {
        const answer = await rl.question(`  allow ${ev.data.toolCall?.title ?? "this tool call"}? [y/N] `);
        await client
          .answerPermission(session.id, ev.data.permissionId, { decision: /^y(es)?$/i.test(answer.trim()) ? "allow" : "deny" })
          .catch(() => {});
      } else if (ev.type === "session.error" && ev.data.code === "budget_exceeded") {
        budgetSpent = true;
      } else if (ev.type === "model.call") {
        lastModelCallFailed = ev.data.status >= 400;
      } else if (ev.type === "turn.ended" && ev.turnId === turnId) {
        stopReason = budgetSpent ? "budget_exceeded" : ev.data.stopReason === "end_turn" && lastModelCallFailed ? "error" : (ev.data.stopReason ?? undefined);
        break;
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    rl?.close();
    if (!opts.keep) await client.endSession(session.id).catch(() => {});
    await server?.close();
  }
  return exitCodeFor(stopReason ?? "cancelled");
}

function positive(flag: string, raw: string, integer: boolean): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} must be a positive ${integer ? "integer" : "number"}, not '${raw}'`);
  return n;
}
