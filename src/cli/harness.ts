import { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { HarnessInstaller } from "../harnesses/installer.js";
import { getHarness, HARNESSES } from "../harnesses/registry.js";
import type { HarnessSpec } from "../harnesses/types.js";
import { UsageError } from "./common.js";
import { printTable } from "./table.js";

function installer(): HarnessInstaller {
  return new HarnessInstaller(loadConfig().harnessCache);
}

/** `pi` or `pi@0.73.1`; berth runs only the versions its specs pin. */
function specArg(arg: string): HarnessSpec {
  const [id, version] = arg.split("@") as [string, string | undefined];
  const spec = getHarness(id);
  if (!spec) throw new UsageError(`unknown harness '${id}'; known: ${HARNESSES.map((h) => h.id).join(", ")}`);
  if (version && version !== spec.version)
    throw new UsageError(`this berth pins ${id} to ${spec.version} (its ACP adapter and config are tested with it), not ${version}`);
  return spec;
}

export function harnessCommand(): Command {
  const cmd = new Command("harness").description("install, list and remove harnesses (installed at run time from the npm registry)");
  cmd
    .command("install")
    .description("install a harness into the cache (BERTH_HARNESS_CACHE, default $BERTH_HOME/harnesses)")
    .argument("<id[@version]>")
    .option("--verify", "re-hash every file of an existing install; if it differs, set it aside (kept, for inspection) and reinstall")
    .action(async (arg: string, opts: { verify?: boolean }) => {
      const spec = specArg(arg);
      const inst = installer();
      if (opts.verify) {
        const why = inst.check(spec, "hashes");
        if (why && why !== "not installed") {
          const aside = inst.setAside(spec);
          process.stderr.write(`berth: ${spec.id}@${spec.version} was modified (${why}); set aside at ${aside}; reinstalling\n`);
        } else if (!why) {
          // Content is what counts: the cheap check's record is taken afresh (a copied cache has new inodes).
          await inst.rebaseline(spec);
          process.stderr.write(`${spec.id}@${spec.version}: every file matches its hash\n`);
        }
      }
      const dir = await inst.ensure(spec, (m) => process.stderr.write(`${m}\n`));
      process.stdout.write(`${spec.id}@${spec.version} ${dir}\n`);
    });
  cmd
    .command("ls")
    .description("list known harnesses with license posture and what is installed")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      const installed = installer().list();
      const rows = HARNESSES.map((h) => {
        const i = installed.find((x) => x.id === h.id && x.version === h.version);
        return {
          id: h.id,
          version: h.version,
          license: h.license,
          redistributable: h.redistributable,
          installed: Boolean(i),
          sizeMB: i ? Math.round(i.bytes / 1e6) : null,
          packages: h.packages.map((p) => `${p.name}@${p.version}`),
        };
      });
      const others = installed.filter((i) => !HARNESSES.some((h) => h.id === i.id && h.version === i.version));
      if (opts.json) return void process.stdout.write(JSON.stringify({ harnesses: rows, unused: others }, null, 2) + "\n");
      printTable(
        ["HARNESS", "VERSION", "LICENSE", "REDISTRIBUTABLE", "INSTALLED", "SIZE"],
        rows.map((r) => [r.id, r.version, r.license, r.redistributable ? "yes" : "no", r.installed ? "yes" : "no", r.sizeMB !== null ? `${r.sizeMB} MB` : "-"]),
      );
      for (const o of others) process.stdout.write(`(unused install: ${o.id}@${o.version}, ${Math.round(o.bytes / 1e6)} MB; 'berth harness rm ${o.id}@${o.version}')\n`);
    });
  cmd
    .command("rm")
    .description("remove installed versions of a harness")
    .argument("<id[@version]>")
    .action((arg: string) => {
      const [id, version] = arg.split("@") as [string, string | undefined];
      const removed = installer().remove(id, version);
      if (!removed.length) throw new UsageError(`nothing installed for ${arg}`);
      process.stdout.write(`removed ${removed.join(", ")}\n`);
    });
  return cmd;
}
