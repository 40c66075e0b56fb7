import { existsSync, readFileSync } from "node:fs";
import { CLONE_NAMESPACE_FLAGS, DENIED, EPERM } from "./seccomp.js";

/**
 * The T2 seccomp profile (Docker/OCI JSON). Engines' default profiles let an unprivileged
 * container create user namespaces (unshare, clone with CLONE_NEWUSER): a nested user
 * namespace hands the agent root-in-namespace powers and the kernel surface behind them.
 * This profile is the engine's own default (where berth can read it: the engine runs on this
 * host) with unshare and namespace-creating clone removed, and every syscall the T1 filter
 * denies (seccomp.ts) removed as well; without the engine's file, it is T1's deny-list policy.
 */

interface Rule {
  names: string[];
  action: string;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
  errnoRet?: number;
  [k: string]: unknown;
}
interface Profile {
  defaultAction: string;
  syscalls: Rule[];
  [k: string]: unknown;
}

/** Where Podman (containers-common) keeps its default profile. */
export const ENGINE_DEFAULT_PROFILES = ["/usr/share/containers/seccomp.json", "/etc/containers/seccomp.json"];

const NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];
const ALLOWS = new Set(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]);
/** Never allowed, whatever the base profile says (clone is re-added with its flags checked). */
const REMOVED = new Set(["unshare", "clone", "clone3", ...DENIED]);

/** The profile, from the engine's default when one is given. */
export function containerSeccompProfile(base?: Profile): Profile {
  if (!base) return denyListProfile();
  if (ALLOWS.has(base.defaultAction)) throw new Error("the engine's default seccomp profile allows by default; berth expects an allow-list");
  const syscalls = base.syscalls
    .map((r) => (ALLOWS.has(r.action) ? { ...r, names: r.names.filter((n) => !REMOVED.has(n)) } : r))
    .filter((r) => r.names.length);
  // Under a deny-by-default profile, clone is allowed only when (flags & namespace flags) == 0;
  // clone3 stays unlisted (the default errno, ENOSYS), so libc falls back to clone.
  syscalls.push({ names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] });
  return { ...base, syscalls };
}

/** Allow by default, deny what T1 denies: clone with any one namespace flag, clone3 with ENOSYS. */
function denyListProfile(): Profile {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      { names: [...DENIED], action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
      ...NS_FLAGS.map((f) => ({ names: ["clone"], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, args: [{ index: 0, value: f, valueTwo: f, op: "SCMP_CMP_MASKED_EQ" }] })),
    ],
  };
}

/** The engine's default profile from this host, if it is here. */
export function readEngineDefaultProfile(paths = ENGINE_DEFAULT_PROFILES): Profile | undefined {
  for (const p of paths) if (existsSync(p)) return JSON.parse(readFileSync(p, "utf8")) as Profile;
  return undefined;
}
