#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { VERSION } from "../app.js";
import { BerthApiError } from "../client/client.js";
import { ConfigError } from "../config/config.js";
import { fail, UsageError } from "./common.js";
import { conformanceCommand } from "./conformance.js";
import { harnessCommand } from "./harness.js";
import { providersCommand } from "./providers.js";
import { imageCommand } from "./image.js";
import { secretsCommand } from "./secrets.js";
import { mockModelCommand } from "./mock-model.js";
import { runCommand } from "./run.js";
import { serveCommand } from "./serve.js";
import { sessionsCommand } from "./sessions.js";

const program = new Command("berth")
  .description("run coding agents as durable sessions inside sandboxes, behind one HTTP API")
  .version(VERSION);
for (const c of [serveCommand(), runCommand(), sessionsCommand(), harnessCommand(), conformanceCommand(), providersCommand(), imageCommand(), secretsCommand(), mockModelCommand()]) program.addCommand(c);

// Commander's own usage errors become one line ("berth: ...") and exit code 2, at every level.
const oneLine = (c: Command): void => {
  c.exitOverride().configureOutput({ outputError: (s) => process.stderr.write(`berth: ${s.replace(/^error: /, "").trim()}\n`) });
  c.commands.forEach(oneLine);
};
oneLine(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exit(e.exitCode === 0 || e.code === "commander.helpDisplayed" || e.code === "commander.version" ? 0 : 2);
  }
  if (e instanceof UsageError || e instanceof ConfigError) fail(e.message, 2);
  if (e instanceof BerthApiError) fail(`${e.message} (${e.code})`, e.status < 500 ? 2 : 1);
  if ((e as NodeJS.ErrnoException)?.code === "ECONNREFUSED" || (e as any)?.cause?.code === "ECONNREFUSED")
    fail("cannot reach the berth server (is `berth serve` running? set BERTH_URL)", 1);
  fail(String((e as Error)?.message ?? e), 1);
}
