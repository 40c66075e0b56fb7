import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * berth's home (BERTH_HOME): root runs berth as a system service, so its state goes where
 * uid 1000 (the agent) can walk to the parts mounted into sandboxes; /root is closed to it.
 */
export function berthHome(configured: string | undefined = process.env.BERTH_HOME || undefined): string {
  return resolve(configured ?? (process.getuid?.() === 0 ? "/var/lib/berth" : join(homedir(), ".berth")));
}

/**
 * Where a server keeps its sockets and markers under its home: `run/`, or `run/<node id>/` for
 * one of several nodes sharing the home (each finds the others' there by their ids).
 */
export function runDir(home: string, nodeId?: string): string {
  return nodeId ? join(home, "run", nodeId) : join(home, "run");
}
