#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { BerthError } from "berth-client";
import { ConfigError } from "../config/errors.js";
import { VERSION } from "../version.js";
import { fail, UsageError } from "./common.js";

// Each command's module is loaded only when it runs (or for the top-level help): `berth
// serve` does not pay for the image scanner, the conformance prober or the CLI transcript.
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.js")).serveCommand(),
  run: async () => (await import("./run.js")).runCommand(),
  sessions: async () => (await import("./sessions.js")).sessionsCommand(),
  files: async () => (await import("./files.js")).filesCommand(),
  harness: async () => (await import("./harness.js")).harnessCommand(),
  conformance: async () => (await import("./conformance.js")).conformanceCommand(),
  providers: async () => (await import("./providers.js")).providersCommand(),
  image: async () => (await import("./image.js")).imageCommand(),
  secrets: async () => (await import("./secrets.js")).secretsCommand(),
  "mock-model": async () => (await import("./mock-model.js")).mockModelCommand(),
  db: async () => (await import("./db.js")).dbCommand(),
};

const program = new Command("berth")
  .description("run coding agents as durable sessions inside sandboxes, behind one HTTP API")
  .version(VERSION);
const asked = process.argv[2];
const load = asked !== undefined && Object.hasOwn(COMMANDS, asked) ? [asked] : Object.keys(COMMANDS);
for (const c of await Promise.all(load.map((n) => COMMANDS[n]!()))) program.addCommand(c);

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
  if (e instanceof BerthError && e.code === "network_error") fail(`${e.message} (is \`berth serve\` running? --url or BERTH_URL names another)`, 1);
  if (e instanceof BerthError) fail(`${e.message} (${e.code})`, e.status >= 400 && e.status < 500 ? 2 : 1);
  fail(String((e as Error)?.message ?? e), 1);
}
