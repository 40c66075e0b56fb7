import { describe, expect, it } from "vitest";
import { parseHardLimits, prlimitArgs, t1Limits } from "../../src/sandboxes/t1-limits.js";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max file size             unlimited            unlimited            bytes
Max data size             unlimited            unlimited            bytes
Max processes             96362                96362                processes
Max open files            20000                20000                files
`;
const hard = parseHardLimits(LIMITS);
const opts = { hard, nrOpen: 1048576 };

describe("T1 limits", () => {
  it("reads berth's hard limits", () => {
    expect(hard.get("Max open files")).toBe(20000);
    expect(hard.get("Max cpu time")).toBe(Infinity);
  });

  it("defaults, and with cgroups the per-uid process limit is raised to the hard limit", () => {
    const l = t1Limits({}, { ...opts, withCgroups: true });
    expect(l.cgroup).toEqual({ procs: 2048, memoryBytes: 4 * 1024 ** 3 });
    expect(l.rlimits.nproc).toBe(96362);
    expect(prlimitArgs(l.rlimits)).toContain("--nproc=96362");
    expect(t1Limits({}, opts).rlimits.nproc).toBe(2048);
    expect(t1Limits({ BERTH_T1_CPUS: 1.5 }, opts).cgroup.cpus).toBe(1.5);
  });

  it.each([
    [{ BERTH_T1_MAX_FILES: 30000 }, /BERTH_T1_MAX_FILES=30000 is above berth's hard limit of 20000/],
    [{ BERTH_T1_MAX_PROCS: 100000 }, /BERTH_T1_MAX_PROCS=100000 is above berth's hard limit/],
  ])("refuses %j (above this host's limits) before anything is spawned", (env, msg) => {
    expect(() => t1Limits(env, opts)).toThrow(msg);
  });

  it("a pids limit above the per-uid hard limit is fine when a cgroup applies it; open files above nr_open never", () => {
    expect(t1Limits({ BERTH_T1_MAX_PROCS: 100000 }, { ...opts, withCgroups: true }).cgroup.procs).toBe(100000);
    expect(() => t1Limits({ BERTH_T1_MAX_FILES: 2000000 }, { hard: new Map(), nrOpen: 1048576 })).toThrow(/fs.nr_open/);
  });
});
