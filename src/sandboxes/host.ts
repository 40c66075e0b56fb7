import { dirname } from "node:path";
import type { SandboxDriver, SandboxLayout, SandboxSpec, SandboxProcess } from "./types.js";
import { reapTree, spawnTree } from "./process-tree.js";

/**
 * T0 `host`: a plain child process with a private HOME and a clean environment, but no
 * isolation. Development only; the session manager refuses it unless enabled.
 */
export class HostDriver implements SandboxDriver {
  readonly name = "host";
  readonly tiers = ["host"] as const;

  async check(): Promise<void> {}

  layout(spec: Pick<SandboxSpec, "workspace" | "home" | "harnessDir">): SandboxLayout {
    return { workspace: spec.workspace, home: spec.home, harnessRoot: spec.harnessDir, node: process.execPath };
  }

  async start(spec: SandboxSpec): Promise<SandboxProcess> {
    const env = { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, ...spec.env };
    return spawnTree(this.name, spec.command, { cwd: spec.workspace, env });
  }

  reap(pid: number | null, ref: string | null): Promise<void> {
    return reapTree(pid, ref);
  }
}
