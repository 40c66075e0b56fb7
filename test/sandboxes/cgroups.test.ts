import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { locateCgroups, ownerDirName, parseProcCgroup, SandboxCgroups } from "../../src/sandboxes/cgroups.js";

// The path logic runs against fake cgroup trees (plain directories): v2 cannot run on this
// host, and v1 writes here must not touch the real hierarchy.

function fakeV1(): string {
  const root = mkdtempSync(join(tmpdir(), "cg1-"));
  for (const m of ["pids", "memory", "cpu,cpuacct", "freezer"]) {
    mkdirSync(join(root, m, "svc"), { recursive: true });
    writeFileSync(join(root, m, "cgroup.procs"), "");
  }
  return root;
}

function fakeV2(procs: string): string {
  const root = mkdtempSync(join(tmpdir(), "cg2-"));
  writeFileSync(join(root, "cgroup.controllers"), "cpuset cpu io memory pids");
  const svc = join(root, "system.slice", "berth.service");
  mkdirSync(svc, { recursive: true });
  writeFileSync(join(svc, "cgroup.controllers"), "cpu memory pids");
  writeFileSync(join(svc, "cgroup.subtree_control"), "");
  writeFileSync(join(svc, "cgroup.procs"), procs);
  return root;
}

const read = (p: string) => readFileSync(p, "utf8");

describe("cgroups", () => {
  it("parses /proc/self/cgroup, co-mounted v1 controllers and the v2 line", () => {
    const m = parseProcCgroup("4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/user.slice\n");
    expect(m.get("memory")).toBe("/process_api/abc");
    expect(m.get("cpu")).toBe("/");
    expect(m.get("cpuacct")).toBe("/");
    expect(m.get("")).toBe("/user.slice");
  });

  it("v1: a sandbox cgroup per controller under berth's own, in the owner's directory, with its limits", async () => {
    const root = fakeV1();
    const host = locateCgroups(root, "8:pids:/\n4:memory:/svc\n2:cpu,cpuacct:/svc\n0::/\n");
    expect(host).toEqual({ version: 1, bases: { pids: join(root, "pids"), memory: join(root, "memory", "svc"), cpu: join(root, "cpu,cpuacct", "svc") } });
    const cgs = new SandboxCgroups(host, "/home/berth");
    const owner = ownerDirName("/home/berth");
    // the fake memory controller accounts swap
    mkdirSync(join(root, "memory", "svc", owner, "s1"), { recursive: true });
    writeFileSync(join(root, "memory", "svc", owner, "s1", "memory.memsw.limit_in_bytes"), "");
    const cg = cgs.create("s1", { procs: 64, memoryBytes: 1 << 28, cpus: 0.5 });
    expect(read(join(root, "pids", owner, "s1", "pids.max"))).toBe("64");
    expect(read(join(root, "memory", "svc", owner, "s1", "memory.limit_in_bytes"))).toBe(String(1 << 28));
    expect(read(join(root, "memory", "svc", owner, "s1", "memory.memsw.limit_in_bytes"))).toBe(String(1 << 28));
    expect(read(join(root, "cpu,cpuacct", "svc", owner, "s1", "cpu.cfs_quota_us"))).toBe("50000");
    expect(cg.procsFiles).toEqual([
      join(root, "pids", owner, "s1", "cgroup.procs"),
      join(root, "memory", "svc", owner, "s1", "cgroup.procs"),
      join(root, "cpu,cpuacct", "svc", owner, "s1", "cgroup.procs"),
    ]);
    expect(cgs.list()).toEqual(["s1"]);
    // Another owner's cgroups are not this owner's leftovers.
    expect(new SandboxCgroups(host, "/other").list()).toEqual([]);
  });

  it("v1: refuses, saying how to fix it, when a controller is not mounted", () => {
    const root = mkdtempSync(join(tmpdir(), "cg1-"));
    mkdirSync(join(root, "memory"));
    writeFileSync(join(root, "memory", "cgroup.procs"), "");
    expect(() => locateCgroups(root, "4:memory:/\n")).toThrow(/no cgroup v1 pids controller.*BERTH_T1_CGROUPS=off/);
  });

  it("v2: berth's processes move to a leaf (no internal processes), controllers are delegated down, limits written", () => {
    const root = fakeV2("4242\n");
    const host = locateCgroups(root, "0::/system.slice/berth.service\n");
    const base = join(root, "system.slice", "berth.service");
    expect(host).toEqual({ version: 2, bases: { unified: base } });
    const cgs = new SandboxCgroups(host, "/home/berth");
    const owner = join(base, ownerDirName("/home/berth"));
    // A real kernel creates these files with the directory; the fake tree needs them up front.
    mkdirSync(join(owner, "s1"), { recursive: true });
    writeFileSync(join(owner, "cgroup.subtree_control"), "");
    writeFileSync(join(owner, "s1", "memory.swap.max"), "");
    const cg = cgs.create("s1", { procs: 100, memoryBytes: 1000000 });
    expect(read(join(base, "berth.server", "cgroup.procs"))).toBe("4242");
    expect(read(join(base, "cgroup.subtree_control"))).toBe("+pids +memory +cpu");
    expect(read(join(owner, "cgroup.subtree_control"))).toBe("+pids +memory +cpu");
    expect(read(join(owner, "s1", "pids.max"))).toBe("100");
    expect(read(join(owner, "s1", "memory.max"))).toBe("1000000");
    expect(read(join(owner, "s1", "memory.swap.max"))).toBe("0");
    expect(read(join(owner, "s1", "cpu.max"))).toBe("max 100000");
    expect(cg.procsFiles).toEqual([join(owner, "s1", "cgroup.procs")]);
  });

  it("v2: an empty berth cgroup delegates without a leaf; missing controllers are refused with the fix", () => {
    const root = fakeV2("");
    const base = join(root, "system.slice", "berth.service");
    new SandboxCgroups(locateCgroups(root, "0::/system.slice/berth.service\n"), "o").create("s", { procs: 1, memoryBytes: 1, cpus: 2 });
    expect(existsSync(join(base, "berth.server"))).toBe(false);
    expect(read(join(base, ownerDirName("o"), "s", "cpu.max"))).toBe("200000 100000");
    writeFileSync(join(base, "cgroup.controllers"), "cpu");
    expect(() => locateCgroups(root, "0::/system.slice/berth.service\n")).toThrow(/pids, memory controller\(s\) delegated.*Delegate=yes/);
  });
});
