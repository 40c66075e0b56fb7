import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/config.js";
import { Berth } from "berth-client";
import { Command } from "commander";

/** A usage error: one line on stderr, exit code 2. */
export class UsageError extends Error {}

export function fail(message: string, code = 2): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(code);
}

/**
 * The SDK connected to a running server: --url, else BERTH_URL, else this machine's
 * `berth serve` (http://127.0.0.1:$PORT); --token, else BERTH_TOKEN, else the token file
 * `berth serve` created in BERTH_HOME.
 */
export function remote(o: { url?: string; token?: string } = {}): Berth {
  const cfg = loadConfig();
  const baseUrl = o.url ?? cfg.env.BERTH_URL ?? `http://127.0.0.1:${cfg.port}`;
  if (!/^https?:\/\/[^\s]+$/.test(baseUrl)) throw new UsageError(`--url must be an http(s) URL, not '${baseUrl}'`);
  const tokenFile = join(cfg.home, "token");
  const token = o.token ?? cfg.env.BERTH_TOKEN ?? (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : undefined);
  if (!token) throw new UsageError(`no API token: pass --token, set BERTH_TOKEN, or run 'berth serve' once to create ${tokenFile}`);
  return Berth.connect({ baseUrl, token });
}

/** A flag's value as a whole number; anything else is a usage error. */
export function whole(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag} must be a whole number, not '${raw}'`);
  return Number(raw);
}

/** One JSON document on stdout: what the API answered (the shapes in /openapi.json). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** `-` reads the whole of stdin (a prompt piped in); anything else is itself. */
export async function argOrStdin(value: string): Promise<string> {
  if (value !== "-") return value;
  if (process.stdin.isTTY) throw new UsageError("'-' reads the prompt from stdin, but stdin is a terminal; pipe the prompt in");
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  if (!text.trim()) throw new UsageError("the prompt read from stdin is empty");
  return text;
}

/** The options every command that talks to a running server takes. */
interface RemoteOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** A command group against a running server: --url, --token and --json, read by connect() and wantsJson(). */
export function remoteCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option("--url <url>", "the server (also BERTH_URL; default this machine's berth serve)")
    .option("--token <token>", "the API token (also BERTH_TOKEN; default $BERTH_HOME/token)")
    .option("--json", "print what the API answered, as JSON");
}

/** The SDK for a subcommand of a remoteCommand(). */
export const connect = (cmd: Command): Berth => remote(cmd.optsWithGlobals<RemoteOptions>());
/** Whether a subcommand of a remoteCommand() was asked for JSON. */
export const wantsJson = (cmd: Command): boolean => Boolean(cmd.optsWithGlobals<RemoteOptions>().json);
