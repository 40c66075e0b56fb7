import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers.js";

// `berth conformance` as an operator runs it: every probe of conformance/probes.yaml inside
// a live sandbox of the tier, compared with the contract; non-zero exit on any difference.
// Asynchronous on purpose: a minute-long spawnSync blocks the vitest worker's event loop
// and its RPC with the runner times out.
async function conformance(args: string[]): Promise<{ stdout: string; status: number }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "conformance", "--json", ...args], {
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env },
    });
    return { stdout, status: 0 };
  } catch (e: any) {
    return { stdout: String(e.stdout ?? ""), status: typeof e.code === "number" ? e.code : 1 };
  }
}

function expectGreen(r: { stdout: string; status: number }, tiers: number) {
  const out = JSON.parse(r.stdout);
  const failed = out.reports.flatMap((rep: any) => rep.results.filter((x: any) => !x.ok).map((x: any) => ({ tier: rep.tier, ...x })));
  expect(failed, JSON.stringify(out.reports.map((x: any) => x.error))).toEqual([]);
  expect(out.reports).toHaveLength(tiers);
  for (const rep of out.reports) expect(rep.results.length, rep.tier).toBeGreaterThanOrEqual(15);
  expect(r.status).toBe(0);
}

describe("berth conformance", () => {
  it("T1 (bubblewrap) meets its contract", async () => {
    expectGreen(await conformance(["--tier", "process"]), 1);
  });

  // Needs Podman's API service and the locally built workspace images (scripts/podman-setup.sh).
  it("T2, T3 and T4 (Podman) meet theirs", async () => {
    expectGreen(await conformance(["--driver", "podman"]), 3);
  });
});
