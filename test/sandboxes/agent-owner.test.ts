import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mkdirForAgent, modeAllows, writeAgentFile } from "../../src/sandboxes/agent-owner.js";

const asRoot = process.getuid?.() === 0;

function fixture(): { home: string; victim: string } {
  const dir = mkdtempSync(join(tmpdir(), "berth-owner-"));
  const home = join(dir, "home");
  mkdirSync(home);
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious\n", { mode: 0o640 });
  return { home, victim };
}

describe("writeAgentFile (berth writing into an agent-owned home)", () => {
  it("writes the file, creating its directories, owned by the agent when berth is root", () => {
    const { home } = fixture();
    writeAgentFile(home, ".config/x/settings.json", "{}", 0o600);
    const st = statSync(join(home, ".config/x/settings.json"));
    expect(readFileSync(join(home, ".config/x/settings.json"), "utf8")).toBe("{}");
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(asRoot ? 1000 : process.getuid!());
    expect(lstatSync(join(home, ".config")).uid).toBe(asRoot ? 1000 : process.getuid!());
  });

  it("replaces a symlink planted where it writes, never writing through it", () => {
    const { home, victim } = fixture();
    symlinkSync(victim, join(home, "settings.json"));
    writeAgentFile(home, "settings.json", "new");
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(join(home, "settings.json")).isSymbolicLink()).toBe(false);
  });

  it("replaces a symlinked directory on the way", () => {
    const { home, victim } = fixture();
    const elsewhere = mkdtempSync(join(tmpdir(), "berth-owner-elsewhere-"));
    symlinkSync(elsewhere, join(home, ".config"));
    writeAgentFile(home, ".config/victim", "new");
    expect(lstatSync(join(home, ".config")).isDirectory()).toBe(true);
    expect(() => statSync(join(elsewhere, "victim"))).toThrow();
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
  });

  it("replaces a hard link to a file elsewhere", () => {
    const { home, victim } = fixture();
    linkSync(victim, join(home, "settings.json"));
    writeAgentFile(home, "settings.json", "new");
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(readFileSync(join(home, "settings.json"), "utf8")).toBe("new");
    expect(statSync(victim).mode & 0o777).toBe(0o640);
  });

  it("refuses a relative path that leaves the directory", () => {
    const { home } = fixture();
    expect(() => writeAgentFile(home, "../escape", "x")).toThrow(/leaves/);
  });

  it("mkdirForAgent does not take over an existing directory", () => {
    const { home } = fixture();
    expect(() => mkdirForAgent(home)).toThrow(/EEXIST/);
  });
});

describe("modeAllows", () => {
  it("reads the owner, group or other bits that apply", () => {
    expect(modeAllows({ uid: 1000, gid: 0, mode: 0o700 }, 1000, 1000, 3)).toBe(true);
    expect(modeAllows({ uid: 0, gid: 1000, mode: 0o750 }, 1000, 1000, 3)).toBe(false);
    expect(modeAllows({ uid: 0, gid: 1000, mode: 0o770 }, 1000, 1000, 3)).toBe(true);
    expect(modeAllows({ uid: 0, gid: 0, mode: 0o755 }, 1000, 1000, 1)).toBe(true);
    expect(modeAllows({ uid: 0, gid: 0, mode: 0o750 }, 1000, 1000, 1)).toBe(false);
  });
});
