import { Command } from "commander";
import { parseEnv } from "../config/env.js";
import { BwrapDriver } from "../sandboxes/bwrap.js";
import { ENGINE_SOCKETS, engineHost } from "../sandboxes/engine.js";
import { HostDriver } from "../sandboxes/host.js";
import { SandboxDrivers } from "../sandboxes/index.js";
import { OciDriver } from "../sandboxes/oci.js";
import { formatReport, loadProbes, passed, runConformance } from "../sandboxes/conformance.js";
import { parseTier, type Tier } from "../sandboxes/types.js";
import { saveReports } from "../sandboxes/conformance-record.js";
import { berthHome } from "../util/home.js";
import { UsageError } from "./common.js";

export function conformanceCommand(): Command {
  return new Command("conformance")
    .description("run the isolation contract (conformance/probes.yaml) inside a live sandbox of each tier")
    .option("--tier <tier...>", "tiers to check (default: all in the probe file)")
    .option("--driver <driver>", "bwrap (T1 only), podman or docker (OCI tiers' engine)")
    .option("--json", "print the results as JSON")
    .action(async (opts: { tier?: string[]; driver?: string; json?: boolean }) => {
      const file = loadProbes();
      let tiers: Tier[] = opts.tier?.map((t) => parseTier(t) ?? badTier(t)) ?? file.tiers;
      const settings = parseEnv(process.env);
      let engine = engineHost(settings);
      if (opts.driver) {
        if (opts.driver === "bwrap") tiers = tiers.filter((t) => t === "process");
        else if (opts.driver === "podman" || opts.driver === "docker") {
          tiers = tiers.filter((t) => t !== "process" && t !== "host");
          // The operator's named engine wins; else the usual socket of the engine asked for.
          engine = settings.BERTH_DOCKER_HOST ?? settings.DOCKER_HOST ?? ENGINE_SOCKETS[opts.driver];
        } else throw new UsageError(`--driver must be bwrap, podman or docker, not '${opts.driver}'`);
        if (tiers.length === 0) throw new UsageError(`driver ${opts.driver} serves none of the tiers asked for`);
      }
      const drivers = new SandboxDrivers([new HostDriver(), new BwrapDriver({ t1: settings }), new OciDriver({ settings, host: engine })]);
      const reports = await runConformance(drivers, tiers, { log: (s) => process.stderr.write(`${s}\n`) });
      // Kept for the server: the console shows each tier's latest run.
      saveReports(berthHome(settings.BERTH_HOME), reports);
      if (opts.json) process.stdout.write(JSON.stringify({ passed: passed(reports), reports }, null, 2) + "\n");
      else process.stdout.write(formatReport(reports, file.probes) + "\n");
      process.exitCode = passed(reports) ? 0 : 1;
    });
}

function badTier(t: string): never {
  throw new UsageError(`unknown tier '${t}'`);
}
