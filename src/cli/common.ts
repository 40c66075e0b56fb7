import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/config.js";
import { BerthClient } from "../client/client.js";

/** A usage error: one line on stderr, exit code 2. */
export class UsageError extends Error {}

export function fail(message: string, code = 2): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(code);
}

/** A client for a running server: BERTH_URL (default http://127.0.0.1:8765) and BERTH_TOKEN or the stored token. */
export function remoteClient(url?: string): BerthClient {
  const cfg = loadConfig();
  const base = (url ?? cfg.env.BERTH_URL ?? `http://127.0.0.1:${cfg.port}`).replace(/\/$/, "");
  const tokenFile = join(cfg.home, "token");
  const token = cfg.env.BERTH_TOKEN ?? (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : undefined);
  if (!token) throw new UsageError(`no API token: set BERTH_TOKEN or run 'berth serve' once to create ${tokenFile}`);
  return new BerthClient(base, token);
}
