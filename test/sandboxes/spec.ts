import { chmodSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mkdirForAgent } from "../../src/sandboxes/agent-owner.js";
import type { SandboxSpec } from "../../src/sandboxes/types.js";

/** A throwaway session layout laid out the way berth lays it out (session dir 0711). */
export function sessionSpec(command: string[]): SandboxSpec {
  const root = mkdtempSync(join(tmpdir(), "sbx-"));
  chmodSync(root, 0o711);
  const workspace = join(root, "ws");
  const home = join(root, "session", "home");
  const harnessDir = join(root, "harness");
  mkdirSync(join(root, "session"));
  // The workspace and home are the agent's, as berth makes them (the drivers chown nothing).
  mkdirForAgent(workspace, 0o755);
  mkdirForAgent(home, 0o700);
  mkdirSync(harnessDir);
  chmodSync(join(root, "session"), 0o711);
  chmodSync(harnessDir, 0o755);
  return { sessionId: "t", tier: "process", workspace, home, harnessDir, command, env: { SANDBOX_MARK: "1" } };
}
