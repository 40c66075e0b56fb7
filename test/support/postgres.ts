// A real, throwaway PostgreSQL server for tests: initdb in a temporary directory, started on a
// free loopback port, as a non-root user (PostgreSQL refuses to run as root), removed after.
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);
export const PG_BIN = process.env.BERTH_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface TestPostgres {
  /** A new, empty database on the server, as a connection URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!existsSync(join(PG_BIN, "initdb")))
    throw new Error(`PostgreSQL 15's server binaries are missing (${PG_BIN}/initdb): install them with apt-get install postgresql-15 (bash scripts/setup.sh does)`);
  const dir = mkdtempSync(join(tmpdir(), "berth-pg-"));
  const data = join(dir, "data");
  // As root, the server runs as nobody: it owns the directory.
  const asUser = process.getuid?.() === 0 ? ["runuser", "-u", "nobody", "--"] : [];
  if (asUser.length) chownSync(dir, 65534, 65534);
  const sh = async (bin: string, args: string[]) => {
    const [cmd, ...rest] = [...asUser, join(PG_BIN, bin), ...args];
    return run(cmd!, rest, { cwd: dir });
  };
  await sh("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  // fsync off: a test server need not survive a power cut, and the suite runs faster.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`;
  await sh("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  const base = `postgres://postgres@127.0.0.1:${port}`;
  let n = 0;
  return {
    async createDatabase() {
      const name = `berth_test_${process.pid}_${++n}`;
      const c = new pg.Client({ connectionString: `${base}/postgres` });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `${base}/${name}`;
    },
    async stop() {
      await sh("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
