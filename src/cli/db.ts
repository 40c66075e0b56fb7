import { Command } from "commander";
import pino from "pino";
import { loadConfig } from "../config/config.js";
import { databasePassword, openPostgres, safeUrl } from "../store/open.js";
import { MIGRATIONS } from "../store/postgres-schema.js";
import { redactor } from "../secrets/redact.js";
import { printJson, UsageError } from "./common.js";
import { printTable } from "./table.js";

// `berth db`: the shared PostgreSQL database of a multi-node deployment (BERTH_DATABASE_URL).
// The embedded SQLite store migrates itself at open and has nothing to show here.

function databaseUrl(opts: { url?: string }): string {
  const url = opts.url ?? loadConfig().env.BERTH_DATABASE_URL;
  if (!url) throw new UsageError("no database: set BERTH_DATABASE_URL (or --database-url) to a postgres:// URL; the embedded SQLite store needs no migrating");
  if (!/^postgres(ql)?:\/\/./.test(url) || !URL.canParse(url)) throw new UsageError("--database-url must be a postgres:// URL");
  const password = databasePassword(url);
  if (password) redactor.add(password);
  return url;
}

async function withStore<T>(opts: { url?: string }, fn: (s: Awaited<ReturnType<typeof openPostgres>>) => Promise<T>): Promise<T> {
  const url = databaseUrl(opts);
  const unreachable = (e: Error) => new Error(redactor.redact(`cannot reach the database at ${safeUrl(url)}: ${e.message}`));
  // Opening connects nothing: the first query does, and its error is classified below.
  const store = await openPostgres(url, "berth-cli", pino({ level: "silent" }));
  try {
    return await fn(store).catch((e: Error & { code?: string }) => {
      // A refused or lost connection says which database; a query's own error stays as it is.
      throw /^(E[A-Z]+|08\w+|28\w+|3D000)$/.test(e.code ?? "") ? unreachable(e) : e;
    });
  } finally {
    await store.close();
  }
}

export function dbCommand(): Command {
  const db = new Command("db").description("the shared PostgreSQL database of several berth nodes (BERTH_DATABASE_URL)");
  db.command("migrate")
    .description("apply the schema migrations not yet applied (berth serve also does, at start)")
    .option("--database-url <url>", "postgres:// URL (else BERTH_DATABASE_URL)")
    .action(async (o: { databaseUrl?: string }) => {
      const done = await withStore({ url: o.databaseUrl }, (s) => s.migrate());
      // What this call applied (a node starting meanwhile may apply some itself).
      const applied = MIGRATIONS.filter((m) => done.includes(m.version));
      const n = applied.length;
      process.stdout.write(n ? `applied ${n} migration${n > 1 ? "s" : ""}: ${applied.map((m) => `${m.version} (${m.name})`).join(", ")}\n` : "the schema is up to date\n");
    });
  db.command("status")
    .description("schema version, the nodes and their leases, and which node owns how many sessions")
    .option("--database-url <url>", "postgres:// URL (else BERTH_DATABASE_URL)")
    .option("--json", "print JSON")
    .action(async (o: { databaseUrl?: string; json?: boolean }) => {
      await withStore({ url: o.databaseUrl }, async (s) => {
        const schema = await s.schemaStatus();
        const migrated = schema.pending.length === 0;
        const nodes = migrated ? await s.nodes() : [];
        const owners = migrated ? await s.ownership() : [];
        if (o.json) return printJson({ schema, nodes, sessions: owners });
        const version = schema.applied.at(-1)?.version ?? 0;
        process.stdout.write(`schema: version ${version}${schema.pending.length ? `, ${schema.pending.length} pending (run: berth db migrate)` : ", up to date"}\n\n`);
        if (nodes.length) printTable(["NODE", "LEASE", "HEARTBEAT", "EXPIRES", "VERSION", "PID"], nodes.map((n) => [n.id, n.alive ? "alive" : "expired", n.heartbeatAt, n.expiresAt, n.version, String(n.pid ?? "")]));
        else process.stdout.write("no node has joined\n");
        if (owners.length) {
          process.stdout.write("\n");
          printTable(["OWNER", "STATE", "SESSIONS"], owners.map((r) => [r.node ?? "-", r.state, String(r.n)]));
        }
      });
    });
  return db;
}
