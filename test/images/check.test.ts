import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { checkImage, type ImageCheckReport } from "../../src/images/check.js";
import type { ImageFinding } from "../../src/images/types.js";
import { Allowlist } from "../../src/secrets/allowlist.js";
import { fingerprint } from "../../src/secrets/matcher.js";
import { dockerArchive, fake, ociArchive, tar, type FakeImage } from "./fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "berth-imgcheck-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A root filesystem directory from path → content (mode optional). */
function rootfs(files: Record<string, string | { body: string; mode?: number }>): string {
  const root = join(tmp, `rootfs-${n++}`);
  mkdirSync(root);
  for (const [p, v] of Object.entries(files)) {
    const f = join(root, p);
    mkdirSync(dirname(f), { recursive: true });
    const { body, mode } = typeof v === "string" ? { body: v, mode: undefined } : v;
    writeFileSync(f, body);
    if (mode !== undefined) chmodSync(f, mode);
  }
  return root;
}

function file(name: string, data: Buffer): string {
  const f = join(tmp, `${n++}-${name}`);
  writeFileSync(f, data);
  return f;
}

const errors = (r: ImageCheckReport) => r.findings.filter((f) => f.severity === "error");
const by = (r: ImageCheckReport, rule: ImageFinding["rule"]) => r.findings.filter((f) => f.rule === rule);
const clean = { "/usr/local/bin/tool": "#!/bin/sh\necho hi\n", "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nagent:x:1000:1000::/home/agent:/bin/bash\n" };

describe("image check on a directory", () => {
  it("passes a clean tree (and says the runtime user is unknown without a config)", async () => {
    const r = await checkImage(rootfs({ ...clean, "/opt/app/node_modules/left-pad/package.json": '{"name":"left-pad","license":"WTFPL"}' }));
    expect(r).toMatchObject({ ok: true, input: "directory" });
    expect(errors(r)).toEqual([]);
    expect(r.findings).toEqual([expect.objectContaining({ severity: "info", rule: "root-user" })]);
    expect(r.stats.files).toBeGreaterThanOrEqual(3);
  });

  it("finds a credential in a file, prints it redacted, and lets an allowlisted one through", async () => {
    const key = fake.anthropic();
    const root = rootfs({ ...clean, "/srv/app/.env": `# config\nANTHROPIC_API_KEY=${key}\n` });
    const r = await checkImage(root);
    expect(r.ok).toBe(false);
    const [f] = by(r, "credential");
    expect(f).toMatchObject({ severity: "error", path: "/srv/app/.env", line: 2, kind: "anthropic-key", fingerprint: fingerprint(key) });
    expect(f!.detail).toContain("ANTHROPIC_API_KEY=sk-ant-api03-[REDACTED]");
    expect(JSON.stringify(r)).not.toContain(key.slice(14));

    const allowed = await checkImage(root, { allow: new Allowlist([{ fingerprint: fingerprint(key), reason: "test fixture" }]) });
    expect(allowed.ok).toBe(true);
    expect(allowed.allowed).toEqual([expect.objectContaining({ path: "/srv/app/.env", reason: "test fixture" })]);
    // A glob on the image path works too; a glob that does not match does not.
    expect((await checkImage(root, { allow: new Allowlist([{ path: "srv/**", reason: "r" }]) })).ok).toBe(true);
    expect((await checkImage(root, { allow: new Allowlist([{ path: "usr/**", reason: "r" }]) })).ok).toBe(false);
  });

  it("does not cry wolf on placeholders, kebab-case words and PEM markers quoted in code", async () => {
    const r = await checkImage(
      rootfs({
        "/docs/README.md": `Set ANTHROPIC_API_KEY=${"sk-ant-api03-" + "x".repeat(40)} or AWS ${"AKIA" + "IOSFODNN7" + "EXAMPLE"}\n`,
        "/app/style.css": ".disk-usage-monitor-and-cleanup-service-name { color: red }\n",
        "/app/pem.js": `if (s.startsWith("-----BEGIN ${"PRIVATE KEY"}-----")) parse(s.split("-----END ${"PRIVATE KEY"}-----")[0]);\n`,
        "/app/auth.js": 'headers.Authorization = "Bearer " + token; // basic authentication-is-not-supported-here\n',
      }),
    );
    expect(by(r, "credential")).toEqual([]);
  });

  it("warns, without failing, on keys in an npm package's test fixtures (public on the registry already)", async () => {
    const r = await checkImage(
      rootfs({
        "/opt/app/node_modules/ssh2/test/fixtures/id_rsa": fake.pem() + "\n",
        "/opt/app/node_modules/ssh2/test/fixtures/keys/host_key": fake.pem() + "\n" + fake.pem() + "\n",
        "/opt/app/node_modules/@scope/pkg/lib/config.js": `module.exports = { key: "${fake.anthropic()}" };\n`,
      }),
    );
    expect(r.ok).toBe(false);
    expect(by(r, "credential").map((f) => [f.severity, f.path])).toEqual([
      ["error", "/opt/app/node_modules/@scope/pkg/lib/config.js"],
      ["warning", "/opt/app/node_modules/ssh2"],
    ]);
    expect(by(r, "credential")[1]!.detail).toMatch(/^credential-shaped test data in the npm package's test fixtures \(private-key ×3 in 2 file\(s\), e\.g\. test\/fixtures\//);
  });

  it("flags Claude Code by package (also aliased), binary name and license text", async () => {
    const r = await checkImage(
      rootfs({
        ...clean,
        "/usr/local/lib/node_modules/@anthropic-ai/claude-code/package.json": '{"name":"@anthropic-ai/claude-code"}',
        "/opt/h/node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/package.json": '{"name":"@anthropic-ai/claude-agent-sdk-linux-x64"}',
        "/opt/h/node_modules/@agentclientprotocol/claude-agent-acp/package.json": '{"name":"@agentclientprotocol/claude-agent-acp"}',
        "/opt/alias/node_modules/cc/package.json": '{"name":"@anthropic-ai/claude-code","version":"2.1.0"}',
        "/opt/vendored/sdk/package.json": '{"name":"@anthropic-ai/claude-agent-sdk","version":"0.3.185"}',
        // Allowed: a project whose package.json merely depends on it.
        "/srv/app/package.json": '{"name":"my-app","dependencies":{"@anthropic-ai/claude-code":"2.1.0"}}',
        "/home/agent/.local/bin/claude": "\x7fELF...",
        "/opt/vendor/LICENSE.md": "© Anthropic PBC. All rights reserved. Use is subject to the Legal Agreements outlined here: https://example.invalid/legal\n",
        // Allowed: Anthropic's MIT SDK, and a directory named claude.
        "/opt/h/node_modules/@anthropic-ai/sdk/package.json": '{"name":"@anthropic-ai/sdk","license":"MIT"}',
        "/opt/h/node_modules/@anthropic-ai/sdk/LICENSE": "Copyright 2023 Anthropic, PBC.\n\nPermission is hereby granted, free of charge...\n",
        "/srv/claude/notes.txt": "a directory called claude is fine",
      }),
    );
    expect(r.ok).toBe(false);
    expect(
      by(r, "proprietary-harness")
        .map((f) => f.path)
        .sort(),
    ).toEqual([
      "/home/agent/.local/bin/claude",
      "/opt/alias/node_modules/cc/package.json",
      "/opt/h/node_modules/@agentclientprotocol/claude-agent-acp/package.json",
      "/opt/h/node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/package.json",
      "/opt/vendor/LICENSE.md",
      "/opt/vendored/sdk/package.json",
      "/usr/local/lib/node_modules/@anthropic-ai/claude-code/package.json",
    ]);
  });

  it("flags a symlinked claude binary, but not a login file symlinked to a run-time secret", async () => {
    const root = rootfs({ ...clean });
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    symlinkSync("/opt/claude-code/bin/claude-2.1", join(root, "usr/bin/claude"));
    mkdirSync(join(root, "home/agent"), { recursive: true });
    symlinkSync("/run/secrets/npmrc", join(root, "home/agent/.npmrc"));
    const r = await checkImage(root);
    expect(r.findings.filter((f) => f.severity !== "info")).toEqual([
      expect.objectContaining({ rule: "proprietary-harness", path: "/usr/bin/claude", detail: expect.stringContaining("symlink to /opt/claude-code/bin/claude-2.1") }),
    ]);
  });

  it("flags baked logins, and not their harmless look-alikes", async () => {
    const bad = await checkImage(
      rootfs({
        "/home/agent/.npmrc": `//registry.npmjs.org/:_authToken=${"npm" + "-secret-value-" + "3f9a1c"}\n`,
        "/home/agent/.claude/.credentials.json": '{"claudeAiOauth":{}}',
        "/root/.claude.json": '{"numStartups":3,"oauthAccount":{"emailAddress":"a@b.c"}}',
        "/home/agent/.pi/agent/auth.json": '{"anthropic":{}}',
        "/home/agent/.codex/auth.json": '{"OPENAI_API_KEY":null}',
        "/home/agent/.git-credentials": "https://user:pw@example.invalid\n",
        "/root/.netrc": "machine example.invalid login me password pw\n",
        "/home/agent/.config/gh/hosts.yml": "github.com:\n    oauth_token: gho_short\n    user: me\n",
      }),
    );
    expect(
      by(bad, "baked-login")
        .map((f) => f.path)
        .sort(),
    ).toEqual([
      "/home/agent/.claude/.credentials.json",
      "/home/agent/.codex/auth.json",
      "/home/agent/.config/gh/hosts.yml",
      "/home/agent/.git-credentials",
      "/home/agent/.npmrc",
      "/home/agent/.pi/agent/auth.json",
      "/root/.claude.json",
      "/root/.netrc",
    ]);
    const good = await checkImage(
      rootfs({
        "/home/agent/.npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nfund=false\n",
        "/usr/local/etc/npmrc": "prefix=/usr/local\n",
        "/root/.claude.json": '{"numStartups":3,"theme":"dark"}',
        "/home/agent/.pi/agent/settings.json": '{"defaultProvider":"berth"}',
        "/home/agent/.config/gh/config.yml": "git_protocol: https\n",
      }),
    );
    expect(good.findings.filter((f) => f.severity !== "info")).toEqual([]);
  });

  it("checks sudoers drop-ins: mode, owner, and visudo (or says it could not validate)", async () => {
    const rule = "agent ALL=(root) NOPASSWD: /usr/bin/nsenter\n";
    const root = rootfs({ "/etc/sudoers.d/open": { body: rule, mode: 0o644 }, "/etc/sudoers.d/ww": { body: rule, mode: 0o666 }, "/etc/sudoers.d/ok": { body: rule, mode: 0o440 } });
    const r = await checkImage(root, { visudo: false });
    const s = by(r, "sudoers");
    expect(s.filter((f) => f.severity === "error").map((f) => [f.path, f.detail.split(" ")[0]])).toEqual([
      ["/etc/sudoers.d/open", "mode"],
      ["/etc/sudoers.d/ww", "world-writable"],
    ]);
    expect(s.filter((f) => f.severity === "warning").map((f) => f.detail)).toEqual(Array(3).fill("not validated: visudo is not installed where this check ran"));
    expect(r.ok).toBe(false);

    // With a visudo: its verdict counts. (A stand-in that rejects anything mentioning nsenter.)
    const visudo = join(tmp, "fake-visudo");
    writeFileSync(visudo, '#!/bin/sh\nf=""; for a; do f="$a"; done\nif grep -q nsenter "$f"; then echo ">>> $f: syntax error near line 1 <<<" >&2; exit 1; fi\n');
    chmodSync(visudo, 0o755);
    const ok = rootfs({ "/etc/sudoers.d/ok": { body: "Defaults !lecture\n", mode: 0o440 } });
    expect((await checkImage(ok, { visudo })).findings.filter((f) => f.rule === "sudoers")).toEqual([]);
    const bad = rootfs({ "/etc/sudoers.d/bad": { body: rule, mode: 0o440 } });
    const rb = await checkImage(bad, { visudo });
    expect(by(rb, "sudoers")).toEqual([expect.objectContaining({ severity: "error", detail: expect.stringMatching(/^visudo -cf rejects it: .*syntax error/) })]);
    expect(by(rb, "sudoers")[0]!.detail).not.toContain(tmpdir());
  });

  it("skips the content of large binaries but still checks their names", async () => {
    const key = fake.github();
    const big = Buffer.concat([Buffer.from("\x7fELF\0\0"), Buffer.alloc(2 << 20, 1), Buffer.from(key)]);
    const root = rootfs({ ...clean });
    mkdirSync(join(root, "opt/bin"), { recursive: true });
    writeFileSync(join(root, "opt/bin/tool"), big);
    writeFileSync(join(root, "opt/bin/claude"), big);
    const small = await checkImage(root, { maxBinaryBytes: 8 << 20 });
    expect(by(small, "credential").map((f) => [f.path, f.kind, f.line])).toEqual([
      ["/opt/bin/claude", "github-token", undefined],
      ["/opt/bin/tool", "github-token", undefined],
    ]);
    const limited = await checkImage(root, { maxBinaryBytes: 1 << 20 });
    expect(by(limited, "credential")).toEqual([]);
    expect(by(limited, "proprietary-harness").map((f) => f.path)).toEqual(["/opt/bin/claude"]);
    expect(limited.stats.largeBinariesSkipped).toBe(2);
  });
});

describe("image check on tars and image archives", () => {
  const passwd = { name: "etc/passwd", body: clean["/etc/passwd"] + "toor:x:0:0::/root:/bin/sh\nberth:x:1000:1000::/home/berth:/bin/sh\n" };

  it("reads a root filesystem tar, plain or gzipped, with long PAX names", async () => {
    const deep = `opt/${"very-long-directory-name/".repeat(6)}node_modules/@anthropic-ai/claude-code/package.json`;
    const t = tar([{ name: "./", type: "dir" }, { name: "./etc/", type: "dir" }, { ...passwd, name: "./etc/passwd" }, { name: deep, body: "{}" }]);
    for (const f of [file("rootfs.tar", t), file("rootfs.tar.gz", gzipSync(t))]) {
      const r = await checkImage(f);
      expect(r.input).toBe("rootfs-tar");
      expect(by(r, "proprietary-harness").map((x) => x.path)).toEqual([`/${deep}`]);
    }
  });

  const key = fake.anthropic();
  const pem = fake.pem();
  const img: FakeImage = {
    config: {
      config: { User: "", Env: ["PATH=/usr/bin", "NODE_VERSION=20.19.0"], Labels: { "org.opencontainers.image.title": "fixture" } },
      history: [{ created_by: "/bin/sh -c #(nop) ADD file:abc in /" }],
    },
    layers: [
      [
        { name: "etc/", type: "dir" },
        passwd,
        { name: "home/agent/.npmrc", body: `//registry.npmjs.org/:_authToken=${fake.npm()}\n` },
        { name: "opt/x/", type: "dir" },
        { name: "opt/x/id_rsa", body: pem + "\n" },
        { name: "etc/app.conf", body: `key=${key}\n` },
        { name: "srv/left.txt", body: `token ${fake.github()}\n` },
      ],
      [
        // Deletes the npmrc, empties /opt/x, rewrites app.conf without the key, adds a bad sudoers drop-in.
        { name: "home/agent/.wh..npmrc", body: "" },
        { name: "opt/x/.wh..wh..opq", body: "" },
        { name: "opt/x/readme", body: "nothing here" },
        { name: "etc/app.conf", body: "key=${KEY}\n" },
        { name: "etc/sudoers.d/agent", body: "agent ALL=(ALL) NOPASSWD: ALL\n", mode: 0o644 },
      ],
    ],
  };

  it.each([
    ["docker save", dockerArchive],
    ["OCI layout", ociArchive],
  ])("applies whiteouts across the layers of a %s archive", async (_n, pack) => {
    const r = await checkImage(file("image.tar", pack(img)), { visudo: false });
    expect(r.input).toBe("image-archive");
    expect(r.stats.layers).toBe(2);
    const summary = r.findings.map((f) => [f.severity, f.rule, f.path]);
    expect(summary).toEqual([
      ["error", "credential", "/srv/left.txt"], // in the final filesystem
      ["error", "root-user", "config:User"],
      ["error", "sudoers", "/etc/sudoers.d/agent"],
      // Gone from the final filesystem, still inside layer 1: warnings.
      ["warning", "baked-login", "/home/agent/.npmrc"],
      ["warning", "credential", "/etc/app.conf"],
      ["warning", "credential", "/home/agent/.npmrc"],
      ["warning", "credential", "/opt/x/id_rsa"],
      ["warning", "sudoers", "/etc/sudoers.d/agent"],
    ]);
    const deleted = r.findings.find((f) => f.path === "/opt/x/id_rsa")!;
    expect(deleted).toMatchObject({ layer: expect.stringMatching(/^1\/2 sha256:[0-9a-f]{12}$/), kind: "private-key" });
    expect(deleted.detail).toMatch(/^deleted in a later layer, but still inside this one/);
    expect(r.findings.find((f) => f.path === "/etc/app.conf")!.detail).toMatch(/^replaced in a later layer/);
    expect(JSON.stringify(r)).not.toContain(key.slice(14));
    expect(JSON.stringify(r)).not.toContain(pem.slice(40, 100));
    expect((await checkImage(file("image.tar", pack(img)), { visudo: false, strict: true })).ok).toBe(false);
  });

  it("passes an archive whose only problems were deleted, unless --strict", async () => {
    const fine: FakeImage = {
      config: { config: { User: "1000:1000" } },
      layers: [
        [passwd, { name: "root/.git-credentials", body: "https://u:p@example.invalid\n" }],
        [{ name: "root/.wh..git-credentials", body: "" }],
      ],
    };
    const r = await checkImage(file("fine.tar", dockerArchive(fine)));
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => [f.severity, f.rule])).toEqual([["warning", "baked-login"]]);
    expect((await checkImage(file("fine.tar", dockerArchive(fine)), { strict: true })).ok).toBe(false);
  });

  it.each([
    ["", true],
    ["root", true],
    ["0", true],
    ["0:0", true],
    ["root:1000", true],
    ["toor", true], // uid 0 in /etc/passwd
    ["1000", false],
    ["1000:1000", false],
    ["berth", false],
    ["agent:agent", false],
  ])("USER %j is root: %s", async (user, isRoot) => {
    const r = await checkImage(file("u.tar", dockerArchive({ config: { config: { User: user } }, layers: [[passwd]] })));
    expect(r.user).toBe(user);
    expect(by(r, "root-user").length).toBe(isRoot ? 1 : 0);
    expect(r.ok).toBe(!isRoot);
  });

  it("finds credentials and secret-named values in ENV, labels and build history", async () => {
    const k = fake.openai();
    const r = await checkImage(
      file(
        "cfg.tar",
        dockerArchive({
          config: {
            config: {
              User: "1000",
              Env: ["PATH=/usr/local/bin:/usr/bin", `OPENAI_API_KEY=${k}`, "DB_PASSWORD=hunter2-but-longer", "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", "BERTH_TOKEN_FILE=/run/secrets/t", "NPM_TOKEN="],
              Labels: { "ci.token": `${fake.github()}` },
            },
            history: [{ created_by: "|2 NPM_TOKEN=abcdefgh12345678 VERSION=1.2 /bin/sh -c npm ci" }, { created_by: "/bin/sh -c #(nop) ENV PATH=/usr/bin" }],
          },
          layers: [[passwd]],
        }),
      ),
    );
    expect(r.findings.map((f) => [f.rule, f.path])).toEqual([
      ["credential", "config:Env[1] OPENAI_API_KEY"],
      ["credential", "config:Labels ci.token"],
      ["secret-env", "config:Env[2] DB_PASSWORD"],
      ["secret-env", "config:history[0]"],
    ]);
    expect(JSON.stringify(r)).not.toContain(k.slice(10));
    expect(JSON.stringify(r)).not.toContain("hunter2");
  });

  it("reports a layer it could not read instead of passing it", async () => {
    const archive = tar([
      { name: "cfg.json", body: JSON.stringify({ config: { User: "1000" } }) },
      { name: "manifest.json", body: JSON.stringify([{ Config: "cfg.json", Layers: ["gone/layer.tar", "bad/layer.tar"] }]) },
      { name: "bad/layer.tar", body: "this is not a tar ".repeat(64) },
    ]);
    const r = await checkImage(file("broken.tar", archive));
    expect(r.ok).toBe(false);
    expect(by(r, "incomplete").map((f) => [f.path, f.detail])).toEqual([
      ["layer 1/2 gone/layer.tar", "not inspected: the manifest names gone/layer.tar, which the archive does not contain"],
      ["layer 2/2 bad/layer.tar", "not inspected: not a tar archive (bad header checksum)"],
    ]);
  });

  it("refuses an unknown image or a missing path with a clear message", async () => {
    await expect(checkImage(join(tmp, "no-such-dir"))).rejects.toThrow(/no such file or directory/);
    await expect(checkImage("localhost/berth-no-such-image:0", { env: { PATH: "/nonexistent" } })).rejects.toThrow(/no engine to export it from/);
  });
});

describe("berth image check (CLI)", () => {
  const runner = fileURLToPath(new URL("./run-cli.ts", import.meta.url));
  const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", runner, "image", "check", ...args], { encoding: "utf8" });

  it("exits 1 with a table, 0 when clean, JSON on request", () => {
    const bad = rootfs({ "/usr/local/bin/claude": "x", ...clean });
    const r = cli(bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^SEVERITY\s+RULE\s+PATH\s+LAYER\s+DETAIL$/m);
    expect(r.stdout).toMatch(/error\s+proprietary-harness\s+\/usr\/local\/bin\/claude/);
    expect(r.stdout).toMatch(/^FAIL directory /m);
    const ok = cli(rootfs(clean), "--json");
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, input: "directory" });
  });
});
