import { Command } from "commander";
import { existsSync } from "node:fs";
import { checkImage, type ImageCheckReport } from "../images/check.js";
import { parseEnv } from "../config/env.js";
import { namedEngine } from "../sandboxes/engine.js";
import { ImageInputError } from "../images/types.js";
import { Allowlist } from "../secrets/allowlist.js";
import { UsageError } from "./common.js";
import { printTable } from "./table.js";

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function printReport(r: ImageCheckReport, verbose: boolean): void {
  const out = (s: string) => process.stdout.write(s + "\n");
  const shown = verbose ? r.findings : r.findings.filter((f) => f.severity !== "info");
  if (shown.length)
    printTable(
      ["SEVERITY", "RULE", "PATH", "LAYER", "DETAIL"],
      shown.map((f) => [f.severity, f.rule, clip(f.line ? `${f.path}:${f.line}` : f.path, 90), f.layer ?? "-", clip(f.detail, 160)]),
    );
  for (const n of r.notes) out(`note: ${n}`);
  if (r.allowed.length) out(`${r.allowed.length} credential finding(s) allowed by the allowlist`);
  const s = r.stats;
  const count = (sev: string) => r.findings.filter((f) => f.severity === sev).length;
  out(
    `${r.ok ? "PASS" : "FAIL"} ${r.describe}: ${count("error")} error(s), ${count("warning")} warning(s); ` +
      `${s.files} files, ${(s.bytes / 1e6).toFixed(0)} MB` +
      (s.layers ? ` in ${s.layers} layer(s)` : "") +
      `, ${(s.scannedBytes / 1e6).toFixed(0)} MB content scanned, ${s.largeBinariesSkipped} large binaries name-checked only; ${(s.ms / 1000).toFixed(1)} s` +
      (r.user !== undefined ? `; USER '${r.user}'` : ""),
  );
}

export function imageCommand(): Command {
  const cmd = new Command("image").description("inspect images and root filesystems");
  cmd
    .command("check")
    .description(
      "fail (exit 1) on a non-redistributable harness, a credential-shaped string, a baked login, a root USER or a bad sudoers file " +
        "in an image (by name, via the engine API socket in BERTH_DOCKER_HOST/DOCKER_HOST or podman/docker save), " +
        "an image archive (docker/podman save), a root filesystem tar, or a directory",
    )
    .argument("<target>", "image name, archive/rootfs tar, or directory (an existing path wins over an image name)")
    .option("--json", "print the report as JSON")
    .option("--strict", "warnings fail too (e.g. sudoers not validated, secrets deleted in a later layer but still in the image)")
    .option("--allow <file>", "allowlist of credential findings (the format of .berth-secrets-allow.yaml; globs match image paths)")
    .option("--max-binary-mb <n>", "binary files larger than this are name-checked only (default 8)")
    .option("-v, --verbose", "also list informational findings")
    .action(async (target: string, opts: { json?: boolean; strict?: boolean; allow?: string; maxBinaryMb?: string; verbose?: boolean }) => {
      if (opts.maxBinaryMb !== undefined && !/^\d+(\.\d+)?$/.test(opts.maxBinaryMb)) throw new UsageError(`--max-binary-mb must be a number, not '${opts.maxBinaryMb}'`);
      if (opts.allow && !existsSync(opts.allow)) throw new UsageError(`no allowlist at ${opts.allow}`);
      let report: ImageCheckReport;
      try {
        const engine = namedEngine(parseEnv(process.env));
        report = await checkImage(target, {
          ...(engine ? { engine } : {}),
          strict: opts.strict,
          allow: opts.allow ? Allowlist.load(opts.allow) : undefined,
          maxBinaryBytes: opts.maxBinaryMb !== undefined ? Number(opts.maxBinaryMb) * 1024 * 1024 : undefined,
          onProgress: opts.json ? undefined : (m) => process.stderr.write(`${m}\n`),
        });
      } catch (e) {
        if (e instanceof ImageInputError) throw new UsageError(e.message);
        throw e;
      }
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      else printReport(report, Boolean(opts.verbose));
      process.exitCode = report.ok ? 0 : 1;
    });
  return cmd;
}
