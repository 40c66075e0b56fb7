import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers.js";

// `berth conformance` as an operator runs it: every probe of conformance/probes.yaml inside
// a live sandbox of the tier, compared with the contract; non-zero exit on any difference.
function conformance(args: string[]) {
  return spawnSync(process.execPath, [join(REPO, "dist/cli/main.js"), "conformance", "--json", ...args], {
    encoding: "utf8",
    timeout: 600_000,
    env: { ...process.env },
  });
}

function expectGreen(r: ReturnType<typeof conformance>, tiers: number) {
  const out = JSON.parse(r.stdout);
  const failed = out.reports.flatMap((rep: any) => rep.results.filter((x: any) => !x.ok).map((x: any) => ({ tier: rep.tier, ...x })));
  expect(failed, JSON.stringify(out.reports.map((x: any) => x.error))).toEqual([]);
  expect(out.reports).toHaveLength(tiers);
  for (const rep of out.reports) expect(rep.results.length, rep.tier).toBeGreaterThanOrEqual(15);
  expect(r.status).toBe(0);
}

describe("berth conformance", () => {
  it("T1 (bubblewrap) meets its contract", () => {
    expectGreen(conformance(["--tier", "process"]), 1);
  });

  // Needs Podman's API service and the locally built workspace images (scripts/podman-setup.sh).
  it("T2, T3 and T4 (Podman) meet theirs", () => {
    expectGreen(conformance(["--driver", "podman"]), 3);
  });
});
