import { Command } from "commander";
import { SandboxDrivers } from "../sandboxes/index.js";
import { formatReport, loadProbes, passed, runConformance } from "../sandboxes/conformance.js";
import { parseTier, type Tier } from "../sandboxes/types.js";
import { UsageError } from "./common.js";

const ENGINE_SOCKETS: Record<string, string> = {
  podman: "unix:///run/berth/podman.sock",
  docker: "unix:///var/run/docker.sock",
};

export function conformanceCommand(): Command {
  return new Command("conformance")
    .description("run the isolation contract (conformance/probes.yaml) inside a live sandbox of each tier")
    .option("--tier <tier...>", "tiers to check (default: all in the probe file)")
    .option("--driver <driver>", "bwrap (T1 only), podman or docker (OCI tiers' engine)")
    .option("--json", "print the results as JSON")
    .action(async (opts: { tier?: string[]; driver?: string; json?: boolean }) => {
      const file = loadProbes();
      let tiers: Tier[] = opts.tier?.map((t) => parseTier(t) ?? badTier(t)) ?? file.tiers;
      if (opts.driver) {
        if (opts.driver === "bwrap") tiers = tiers.filter((t) => t === "process");
        else if (ENGINE_SOCKETS[opts.driver]) {
          tiers = tiers.filter((t) => t !== "process" && t !== "host");
          process.env.BERTH_DOCKER_HOST ??= process.env.DOCKER_HOST ?? ENGINE_SOCKETS[opts.driver];
        } else throw new UsageError(`--driver must be bwrap, podman or docker, not '${opts.driver}'`);
        if (tiers.length === 0) throw new UsageError(`driver ${opts.driver} serves none of the tiers asked for`);
      }
      const reports = await runConformance(new SandboxDrivers(), tiers, { log: (s) => process.stderr.write(`${s}\n`) });
      if (opts.json) process.stdout.write(JSON.stringify({ passed: passed(reports), reports }, null, 2) + "\n");
      else process.stdout.write(formatReport(reports, file.probes) + "\n");
      process.exitCode = passed(reports) ? 0 : 1;
    });
}

function badTier(t: string): never {
  throw new UsageError(`unknown tier '${t}'`);
}
