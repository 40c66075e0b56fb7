import { chown, lchown, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { AGENT_GID, AGENT_UID } from "./types.js";

/**
 * chown -R to the agent (uid/gid 1000), without following symlinks. Both drivers need it
 * when berth runs as root: the agent is uid 1000 on the host too (no user namespace maps
 * it), and must own the workspace and home it writes to.
 */
export async function chownToAgent(dir: string): Promise<void> {
  const st = await lstat(dir);
  if (st.uid !== AGENT_UID || st.gid !== AGENT_GID) await chown(dir, AGENT_UID, AGENT_GID);
  if (!st.isDirectory()) return;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownToAgent(p);
    else if ((await lstat(p)).uid !== AGENT_UID) await lchown(p, AGENT_UID, AGENT_GID);
  }
}
