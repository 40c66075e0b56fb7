import { Command } from "commander";
import { existsSync } from "node:fs";
import { Allowlist } from "../secrets/allowlist.js";
import { scanDiff, scanTree, type ScanReport } from "../secrets/scan.js";
import { UsageError } from "./common.js";
import { printTable } from "./table.js";

function printReport(r: ScanReport): void {
  const out = (s: string) => process.stdout.write(s + "\n");
  if (r.findings.length)
    printTable(
      ["LOCATION", "KIND", "FINGERPRINT", "EXCERPT"],
      r.findings.map((f) => [`${f.path}:${f.line}`, f.kind, f.fingerprint, f.excerpt.length > 120 ? `${f.excerpt.slice(0, 119)}…` : f.excerpt]),
    );
  for (const s of r.skipped) out(`skipped ${s.path}: ${s.reason}`);
  for (const u of r.unusedAllow) out(`note: allowlist entry matched nothing (stale?): ${JSON.stringify(u)}`);
  out(
    `${r.findings.length ? "FAIL" : "PASS"}: ${r.findings.length} finding(s), ${r.allowed.length} allowed` +
      (r.allowlist ? ` by ${r.allowlist}` : "") +
      `; ${r.filesScanned} file(s), ${(r.bytesScanned / 1e6).toFixed(1)} MB ${r.mode === "diff" ? "of added lines and new files " : ""}scanned`,
  );
  if (r.findings.length)
    out("A real secret: remove it and rotate it (it may be in git history). A false positive: add its fingerprint, with a reason, to .berth-secrets-allow.yaml.");
}

export function secretsCommand(): Command {
  const cmd = new Command("secrets").description("find credentials where they do not belong");
  cmd
    .command("scan")
    .description(
      "scan the working tree (tracked files and untracked ones not ignored) or, with --diff, only the lines added since REV, " +
        "for credential-shaped strings; exit 1 on findings. Secrets are never printed, only redacted excerpts and fingerprints",
    )
    .argument("[path]", "directory (or file) to scan", ".")
    .option("--diff <rev>", "only what `git diff REV` adds (REV may be a range A..B), plus untracked files")
    .option("--allow <file>", "allowlist (default: .berth-secrets-allow.yaml at the repository root)")
    .option("--json", "print the report as JSON")
    .action(async (path: string, opts: { diff?: string; allow?: string; json?: boolean }) => {
      if (!existsSync(path)) throw new UsageError(`${path}: no such file or directory`);
      if (opts.allow && !existsSync(opts.allow)) throw new UsageError(`no allowlist at ${opts.allow}`);
      let allow: Allowlist | undefined;
      try {
        allow = opts.allow ? Allowlist.load(opts.allow) : undefined;
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const report = opts.diff ? await scanDiff(path, opts.diff, { allow }) : await scanTree(path, { allow });
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      else printReport(report);
      process.exitCode = report.findings.length ? 1 : 0;
    });
  return cmd;
}
