import { describe, expect, it } from "vitest";
import { containerSeccompProfile, readEngineDefaultProfile } from "../../src/sandboxes/oci-seccomp.js";
import { CLONE_NAMESPACE_FLAGS, DENIED } from "../../src/sandboxes/seccomp.js";

const allowed = (p: ReturnType<typeof containerSeccompProfile>) =>
  new Set(p.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args?.length).flatMap((r) => r.names));

describe("T2 seccomp profile", () => {
  const base = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    syscalls: [
      { names: ["read", "write", "clone", "clone3", "unshare", "io_uring_setup", "ptrace"], action: "SCMP_ACT_ALLOW" },
      { names: ["setns"], action: "SCMP_ACT_ERRNO", errnoRet: 1 },
    ],
  };

  it("keeps the engine's default and removes unshare, clone3, T1's denied syscalls; clone only without namespace flags", () => {
    const p = containerSeccompProfile(base);
    expect(p.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect([...allowed(p)].sort()).toEqual(["ptrace", "read", "write"]);
    expect(p.syscalls).toContainEqual({ names: ["setns"], action: "SCMP_ACT_ERRNO", errnoRet: 1 });
    expect(p.syscalls).toContainEqual({ names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] });
  });

  it("without the engine's file: allow by default, deny T1's list and each namespace flag of clone", () => {
    const p = containerSeccompProfile(undefined);
    expect(p.defaultAction).toBe("SCMP_ACT_ALLOW");
    expect(p.syscalls[0]!.names).toEqual(DENIED);
    expect(p.syscalls.filter((r) => r.names[0] === "clone")).toHaveLength(7);
  });

  it("refuses an engine default that allows by default (berth's additions would then be allow-list rules)", () => {
    expect(() => containerSeccompProfile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [] })).toThrow(/allows by default/);
  });

  it("reads Podman's default profile where it is installed", () => {
    expect(readEngineDefaultProfile(["/nonexistent"])).toBeUndefined();
  });
});
