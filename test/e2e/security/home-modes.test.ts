import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { collect, startBerth, turnEnded } from "../helpers.js";

// Attack: a local user (or a T4 agent, which sees the host at /host) reads berth's files:
// the database's -wal/-shm held tool output 0644. Everything berth writes under its home is
// 0600/0700, but for what the uid-1000 sandbox must reach, listed here one by one.

const AGENT_UID = 1000;

/** What a sandbox must reach, relative to BERTH_HOME, and why it is not private. */
const EXCEPTIONS: [RegExp, string][] = [
  // bwrap runs as uid 1000 and walks to these; 0711 lets it search them, never list them.
  [/^(|sessions|workspaces|run|sessions\/ses_[a-z0-9]+)$/, "traverse-only directory (0711)"],
  // The gateway and egress sockets the sandbox connects to (the gateway checks a per-session token).
  [/^(run\/gateway\.sock|sessions\/ses_[a-z0-9]+\/egress\.sock)$/, "socket the sandbox connects to"],
  // Mounted read-only into the sandbox: passwd/group for uid 1000, the relay, system files.
  [/^sessions\/ses_[a-z0-9]+\/(etc|etc\/passwd|etc\/group|relay\.js|system-\d+)$/, "read-only mount for the sandbox"],
];
/** Owned by the agent (its home and its workspace): its own files, in its own modes. */
const AGENT_OWNED = /^(sessions\/ses_[a-z0-9]+\/home|workspaces\/ses_[a-z0-9]+)(\/|$)/;

function everything(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(root, p));
    if (e.isDirectory()) out.push(...everything(p, root));
  }
  return out;
}

/** Paths under home that group or others can read or write, and are not a listed exception. */
function exposed(home: string): string[] {
  const bad: string[] = [];
  for (const rel of ["", ...everything(home)]) {
    const st = lstatSync(join(home, rel));
    if (AGENT_OWNED.test(rel)) {
      expect(st.uid, `${rel} should belong to the agent`).toBe(AGENT_UID);
      continue;
    }
    if ((st.mode & 0o066) === 0 && (!st.isDirectory() || (st.mode & 0o011) === 0)) continue;
    const exception = EXCEPTIONS.find(([re]) => re.test(rel));
    if (!exception) bad.push(`${(st.mode & 0o777).toString(8)} ${rel}`);
    // A traverse-only directory must still not be listable.
    else if (st.isDirectory() && !/^sessions\/ses_[a-z0-9]+\/etc$/.test(rel)) expect(st.mode & 0o066, `${rel} is listable`).toBe(0);
  }
  return bad;
}

describe("BERTH_HOME file modes", () => {
  it("no file berth writes is group/other readable, during a real session and after; a -wal left 0644 is fixed at start", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-sec-home-"));
    chmodSync(home, 0o755);
    // A first server (with the token file), killed so the -wal and -shm stay behind.
    const first = await startBerth({ home, env: { BERTH_TOKEN: undefined } });
    await first.stop("SIGKILL");
    for (const f of ["berth.db", "berth.db-wal", "berth.db-shm", "token"]) if (existsSync(join(home, f))) chmodSync(join(home, f), 0o644);
    expect(existsSync(join(home, "berth.db-wal"))).toBe(true);

    const berth = await startBerth({ home });
    try {
      expect(exposed(home)).toEqual([]);
      const s = await berth.client.createSession({ harness: "pi" });
      const turn = await berth.client.postTurn(s.id, "write hello.txt");
      await collect(berth.client, s.id, turnEnded(turn.id));
      // While the session is alive: its directory, sockets and the store's -wal are all there.
      expect(existsSync(join(home, "sessions", s.id, "egress.sock"))).toBe(true);
      expect(lstatSync(join(home, "berth.db-wal")).mode & 0o777).toBe(0o600);
      expect(lstatSync(join(home, "berth.db-shm")).mode & 0o777).toBe(0o600);
      expect(exposed(home)).toEqual([]);
      await berth.client.endSession(s.id);
      expect(exposed(home)).toEqual([]);
    } finally {
      await berth.stop();
    }
    for (const f of ["berth.db", "token"]) expect(lstatSync(join(home, f)).mode & 0o777).toBe(0o600);
    expect(exposed(home)).toEqual([]);
  });
});
