// `berth image check`: the posture of an image or root filesystem (docs/design.md, decision 7).
// Fails on a non-redistributable harness (by package, binary name or license text), a
// credential-shaped string in a file or in the image config, a baked login, root as the
// runtime user, and a sudoers file sudo would refuse or anyone could change.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { promisify } from "node:util";
import type { Allowlist } from "../secrets/allowlist.js";
import { ChunkScanner, type SecretFinding } from "../secrets/chunk-scanner.js";
import { which } from "./export.js";
import { openInput } from "./input.js";
import type { ImageFile, ImageFinding, ImageInput, InputKind, Severity } from "./types.js";
import { configFindings, forbiddenPackages, LICENSE_FILE, LOGIN_RULES, NON_REDISTRIBUTABLE_IDS, NPM_FIXTURE, PROPRIETARY_BINARIES, PROPRIETARY_LICENSE } from "./rules.js";

const run = promisify(execFile);

export interface ImageCheckReport {
  target: string;
  input: InputKind;
  describe: string;
  /** No errors (with `strict`, no warnings either). */
  ok: boolean;
  findings: ImageFinding[];
  /** Credential findings an allowlist let through. */
  allowed: (ImageFinding & { reason: string })[];
  /** The runtime user from the config, if there is a config. */
  user?: string;
  notes: string[];
  stats: {
    layers: number;
    files: number;
    bytes: number;
    /** Bytes whose content was scanned. */
    scannedBytes: number;
    /** Binary files over the size limit: names checked, content not scanned. */
    largeBinariesSkipped: number;
    ms: number;
  };
}

export interface CheckOptions {
  /** Binary files larger than this are not content-scanned (names still are). Default 8 MiB. */
  maxBinaryBytes?: number;
  /** Credential findings to let through (by fingerprint and/or path glob on the image path). */
  allow?: Allowlist;
  /** Warnings fail the check too. */
  strict?: boolean;
  /** visudo to validate sudoers files with: a path, or false for none; default: found on PATH. */
  visudo?: string | false;
  /** Where executables (podman, docker, visudo) are looked up: its PATH. */
  env?: NodeJS.ProcessEnv;
  /** The container engine to export image names from (BERTH_DOCKER_HOST/DOCKER_HOST); else the podman or docker CLI. */
  engine?: string;
  onProgress?: (message: string) => void;
}

// --- the check ---------------------------------------------------------------------------

async function findVisudo(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return (await which("visudo", env)) ?? (await which("/usr/sbin/visudo", env)) ?? (await which("/sbin/visudo", env));
}

async function visudoCheck(visudo: string, content: Buffer): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "berth-sudoers-"));
  const f = join(dir, "sudoers");
  try {
    writeFileSync(f, content, { mode: 0o440 });
    await run(visudo, ["-c", "-q", "-f", f], { timeout: 10_000 });
    return undefined;
  } catch (e: any) {
    if (e?.code === "ENOENT") return `could not run ${visudo}`;
    return String(e?.stderr || e?.stdout || e?.message || "visudo rejected it").replaceAll(f, "<file>").trim().split("\n")[0];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function jsonField(text: string, key: string): string | undefined {
  try {
    const v = (JSON.parse(text) as Record<string, unknown>)[key];
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

const WHOLE_LIMIT = 4 << 20;
const ISSUE_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Checks an image, an image archive, a root filesystem tar or a directory. */
export async function checkImage(target: string, opts: CheckOptions = {}): Promise<ImageCheckReport> {
  const t0 = Date.now();
  const input: ImageInput = await openInput(target, { ...(opts.env ? { env: opts.env } : {}), ...(opts.engine ? { engine: opts.engine } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  try {
    return await checkInput(target, input, opts, t0);
  } finally {
    await input.close();
  }
}

async function checkInput(target: string, input: ImageInput, opts: CheckOptions, t0: number): Promise<ImageCheckReport> {
  const maxBinary = opts.maxBinaryBytes ?? 8 << 20;
  const visudo = opts.visudo === false ? undefined : (opts.visudo ?? (await findVisudo(opts.env ?? process.env)));
  const forbidden = forbiddenPackages();
  const findings: ImageFinding[] = [];
  const allowed: (ImageFinding & { reason: string })[] = [];
  const notes = [...input.notes];
  const stats = { layers: input.layers, files: 0, bytes: 0, scannedBytes: 0, largeBinariesSkipped: 0, ms: 0 };
  const passwd = new Map<string, number>();
  const sudoers: { f: ImageFile; content?: Buffer }[] = [];
  const fixtures = new Map<string, { f: ImageFile; pkg: string; kinds: Map<string, number>; files: number }>();

  const allowedBy = (x: ImageFinding): boolean => {
    if (x.rule !== "credential" || !x.fingerprint || !x.kind || !opts.allow) return false;
    const a = opts.allow.match({ path: x.path, fingerprint: x.fingerprint, kind: x.kind });
    if (a) allowed.push({ ...x, reason: a.reason });
    return a !== undefined;
  };
  const add = (f: ImageFile | undefined, x: Omit<ImageFinding, "severity" | "layer"> & { severity?: Severity }) => {
    const finding: ImageFinding = { severity: x.severity ?? "error", ...x };
    if (f?.layer) finding.layer = f.layer;
    if (f?.shadowed) {
      // Not in the final filesystem, but its bytes still ship in the layer.
      finding.severity = finding.severity === "error" ? "warning" : finding.severity;
      finding.detail = `${f.shadowed} in a later layer, but still inside this one (anyone with the image can extract it): ${finding.detail}`;
    }
    if (!allowedBy(finding)) findings.push(finding);
  };

  const visit = async (f: ImageFile): Promise<void> => {
    stats.files++;
    if (f.type === "file") stats.bytes += f.size;
    if (f.type === "directory" || f.type === "other") return;
    const base = posix.basename(f.path);

    // Names: a proprietary harness's binary, packages.
    if (PROPRIETARY_BINARIES.has(base) || /\/\.local\/share\/claude\/versions\/[^/]+$/.test(f.path))
      add(f, { rule: "proprietary-harness", path: f.path, detail: `Claude Code binary${f.type === "symlink" ? ` (symlink to ${f.linkname})` : ""}: proprietary, not redistributable` });
    const pkgDir = /\/node_modules\/((?:@[^/]+\/)?[^/@][^/]*)\/package\.json$/.exec(f.path)?.[1];
    const pkgHit = pkgDir ? forbidden.find((x) => x.test(pkgDir)) : undefined;
    if (pkgHit && pkgDir) add(f, { rule: "proprietary-harness", path: f.path, detail: `${pkgDir}: ${pkgHit.why}` });
    const login = LOGIN_RULES.find((r) => r.path.test(f.path));
    const isSudoers = f.path === "/etc/sudoers" || posix.dirname(f.path) === "/etc/sudoers.d";
    if (isSudoers && !f.shadowed && f.type !== "file") {
      sudoers.push({ f });
      return;
    }
    // A symlink to a login file is how a secret mounted at run time is wired in: fine.
    if (f.type !== "file") return;

    // Content.
    const wantWhole =
      f.size <= WHOLE_LIMIT &&
      (base === "package.json" || LICENSE_FILE.test(base) || base === ".berth-install.json" || login !== undefined || isSudoers || f.path === "/etc/passwd");
    const parts: Buffer[] = [];
    let scanner: ChunkScanner | undefined;
    let binary = false;
    let seen = 0;
    for await (const chunk of f.content()) {
      seen += chunk.length;
      if (!scanner) {
        binary = chunk.subarray(0, 8000).includes(0);
        if (binary && f.size > maxBinary) {
          stats.largeBinariesSkipped++;
          break;
        }
        scanner = new ChunkScanner(f.path, 8192, binary ? 0 : 40);
      }
      stats.scannedBytes += chunk.length;
      scanner.push(chunk, seen === f.size);
      if (wantWhole) parts.push(chunk);
    }
    let creds: SecretFinding[] = scanner?.end() ?? [];
    if (binary) {
      // One finding per kind in a binary: lines mean nothing there and a library may hold dozens.
      const byKind = new Map<string, SecretFinding[]>();
      for (const c of creds) byKind.set(c.kind, [...(byKind.get(c.kind) ?? []), c]);
      creds = [...byKind.values()].map((cs) => ({ ...cs[0]!, excerpt: cs.length > 1 ? `${cs.length} of them, e.g. ${cs[0]!.excerpt}` : cs[0]!.excerpt }));
    }
    const fixture = NPM_FIXTURE.exec(f.path);
    if (fixture && creds.length) {
      // Summed up per package: ssh2 alone ships ~50 test keys.
      const key = `${fixture[1]}\0${f.layer ?? ""}\0${f.shadowed ?? ""}`;
      const g = fixtures.get(key) ?? { f, pkg: fixture[1]!, kinds: new Map<string, number>(), files: 0 };
      g.files++;
      for (const c of creds) g.kinds.set(c.kind, (g.kinds.get(c.kind) ?? 0) + 1);
      fixtures.set(key, g);
      creds = [];
    }
    for (const c of creds) {
      const where = binary ? { detail: `${c.kind} inside a binary file: ${c.excerpt}` } : { line: c.line, detail: `${c.kind}: ${c.excerpt}` };
      // PEM keys compiled into libraries are nearly always self-test vectors (libgnutls has a dozen): a warning.
      const selfTest = binary && c.kind === "private-key";
      if (selfTest) where.detail += " (libraries embed test keys like this; --strict fails on it)";
      add(f, { rule: "credential", path: f.path, ...where, kind: c.kind, fingerprint: c.fingerprint, ...(selfTest ? { severity: "warning" as const } : {}) });
    }
    if (!wantWhole) return;
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const text = body.toString("utf8");

    if (base === "package.json" && !pkgHit) {
      // The directory may be an alias (npm install foo@npm:@anthropic-ai/claude-code), or a
      // copy vendored outside node_modules: the name field tells.
      const name = jsonField(text, "name");
      const hit = name ? forbidden.find((x) => x.test(name)) : undefined;
      if (hit)
        add(f, { rule: "proprietary-harness", path: f.path, detail: `${name} (${/\/node_modules\//.test(f.path) ? "installed under another name" : "copied outside node_modules"}): ${hit.why}` });
    }
    if (LICENSE_FILE.test(base) && PROPRIETARY_LICENSE.test(text))
      add(f, { rule: "proprietary-harness", path: f.path, detail: "Anthropic proprietary license notice (\"All rights reserved\", Legal Agreements): the package it belongs to may not be redistributed" });
    if (base === ".berth-install.json") {
      const id = jsonField(text, "id");
      if (id && NON_REDISTRIBUTABLE_IDS.has(id))
        add(f, { rule: "proprietary-harness", path: f.path, detail: `berth's install of harness '${id}', which may not be redistributed` });
    }
    if (login && (login.content ? login.content.test(text) : body.length > 0) && !creds.length)
      add(f, { rule: "baked-login", path: f.path, detail: `${login.what}; logins are made at run time, never baked` });
    else if (login && creds.length)
      add(f, { rule: "baked-login", path: f.path, detail: `${login.what} (credentials listed separately)` });
    if (f.path === "/etc/passwd" && !f.shadowed)
      for (const l of text.split("\n")) {
        const [name, , uid] = l.split(":");
        if (name && uid && /^\d+$/.test(uid)) passwd.set(name, Number(uid));
      }
    if (isSudoers && !f.shadowed) sudoers.push({ f, content: body });
  };

  await input.walk(visit, (path, message) =>
    findings.push({ severity: "error", rule: "incomplete", path, detail: `not inspected: ${message}` }),
  );

  // An npm package's own test data came from the public registry: public already, not a
  // secret someone baked in. Reported (it ships in the image), but as a warning.
  for (const { f, pkg, kinds, files } of fixtures.values()) {
    const what = [...kinds].map(([k, n]) => `${k} ×${n}`).join(", ");
    add(f, {
      severity: "warning",
      rule: "credential",
      path: pkg,
      detail: `credential-shaped test data in the npm package's test fixtures (${what} in ${files} file(s), e.g. ${f.path.slice(pkg.length + 1)}), as published on the registry; --strict fails on it`,
    });
  }

  for (const { f, content } of sudoers) {
    const where = { path: f.path, rule: "sudoers" as const };
    if (f.type !== "file") {
      add(f, { ...where, severity: "warning", detail: `a ${f.type}${f.linkname ? ` to ${f.linkname}` : ""}: sudo reads only regular files here` });
      continue;
    }
    if (f.mode & 0o002) add(f, { ...where, detail: `world-writable (mode 0${f.mode.toString(8)}): anyone can grant themselves root` });
    else if (f.mode !== 0o440) add(f, { ...where, detail: `mode 0${f.mode.toString(8)}, must be 0440 (sudo refuses group/world-writable files)` });
    if (f.uid !== 0) add(f, { ...where, detail: `owned by uid ${f.uid}, must be root (sudo ignores it)` });
    if (!content) continue;
    if (visudo) {
      const why = await visudoCheck(visudo, content);
      if (why) add(f, { ...where, detail: `visudo -cf rejects it: ${why}` });
    } else add(f, { ...where, severity: "warning", detail: "not validated: visudo is not installed where this check ran" });
  }

  let user: string | undefined;
  if (input.config) {
    user = input.config.config?.User ?? "";
    for (const x of configFindings(input.config, passwd)) if (!allowedBy(x)) findings.push(x);
  } else if (input.kind === "image" || input.kind === "image-archive") {
    findings.push({ severity: "error", rule: "incomplete", path: "config", detail: "the image config could not be read: the runtime user was not checked" });
  } else {
    findings.push({ severity: "info", rule: "root-user", path: "config", detail: `no image config in a ${input.kind}: the runtime user is not known here (check the image itself)` });
  }

  findings.sort((a, b) => ISSUE_ORDER[a.severity] - ISSUE_ORDER[b.severity] || a.rule.localeCompare(b.rule) || a.path.localeCompare(b.path));
  stats.ms = Date.now() - t0;
  const failing = findings.filter((f) => f.severity === "error" || (opts.strict && f.severity === "warning"));
  return { target, input: input.kind, describe: input.describe, ok: failing.length === 0, findings, allowed, ...(user !== undefined ? { user } : {}), notes, stats };
}
