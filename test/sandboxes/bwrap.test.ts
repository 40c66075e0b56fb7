import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { BwrapDriver, openWorkspaceDir } from "../../src/sandboxes/bwrap.js";
import { writeRelay } from "../../src/sandboxes/relay.js";
import { sessionSpec } from "./spec.js";

// The T1 contract bits this build promises, checked on a live bubblewrap sandbox.
const driver = new BwrapDriver();

beforeAll(async () => {
  await driver.check(); // throws "install bubblewrap ..." when it is missing
});

function markedPids(mark: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/environ`, "latin1").split("\0").includes(`SANDBOX_MARK=${mark}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function runIn(script: string) {
  const spec = sessionSpec(["/bin/sh", "-c", script]);
  const p = await driver.start(spec);
  let out = "";
  let err = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (err += d));
  const exit = await p.exited;
  return { out, err, exit, spec };
}

describe("bwrap driver (T1)", () => {
  it("runs as uid/gid 1000 with a private HOME and /tmp, and a writable workspace", async () => {
    const { out, exit, spec } = await runIn('id -u; id -g; echo "$HOME"; pwd; touch /tmp/x /var/tmp/x "$HOME/h" /workspace/w && echo wrote');
    expect(exit.code).toBe(0);
    expect(out.split("\n").slice(0, 5)).toEqual(["1000", "1000", "/home/agent", "/workspace", "wrote"]);
    expect(statSync(join(spec.workspace, "w")).uid).toBe(1000);
    expect(statSync(join(spec.home, "h")).uid).toBe(1000);
  });

  it("keeps the system read-only and host secrets out of sight", async () => {
    const { out } = await runIn(
      'for p in /usr/bin/x /etc/x /opt/berth/harness/x /x; do touch "$p" 2>/dev/null && echo "wrote $p"; done; ' +
        "test -e /etc/shadow && echo shadow; test -e /root && echo root; ls /home; echo end",
    );
    expect(out.trim().split("\n")).toEqual(["agent", "end"]);
  });

  it("has its own pid namespace and a clean environment", async () => {
    const { out } = await runIn("ls /proc | grep -c '^[0-9]'; env | cut -d= -f1 | sort | tr '\\n' ' '");
    const [count, env] = out.trim().split("\n");
    expect(Number(count)).toBeLessThan(6);
    expect(env!.trim().split(" ")).toEqual(expect.arrayContaining(["HOME", "PATH", "SANDBOX_MARK"]));
    expect(env).not.toMatch(/BERTH_TOKEN|ANTHROPIC/);
  });

  it("kill() takes down the whole tree", async () => {
    const mark = `kill-${process.pid}-${Date.now()}`;
    const spec = { ...sessionSpec(["/bin/sh", "-c", "sleep 300 & sleep 300 & wait"]), env: { SANDBOX_MARK: mark } };
    const p = await driver.start(spec);
    await new Promise((r) => setTimeout(r, 300));
    expect(markedPids(mark).length).toBeGreaterThanOrEqual(3);
    await p.kill();
    expect(() => process.kill(p.pid, 0)).toThrow();
    // Resolved means gone: nothing of the sandbox is left, not even a process still dying.
    expect(markedPids(mark)).toEqual([]);
  });

  it("with spec.net: only loopback, host ports unreachable, berth's sockets reachable through the relay", async () => {
    const host = http.createServer((_q, r) => r.end("host tcp"));
    await new Promise<void>((r) => host.listen(0, "127.0.0.1", r));
    const hostPort = (host.address() as AddressInfo).port;
    const base = sessionSpec([]);
    const sock = join(base.home, "..", "gw.sock");
    const gw = http.createServer((q, r) => r.end(`gateway ${q.url}`));
    await new Promise<void>((r) => gw.listen(sock, r));
    chmodSync(sock, 0o666);
    const relayScript = writeRelay(join(base.home, ".."));
    const probe = `
      const tryGet = (u) => fetch(u).then((r) => r.text(), (e) => "refused");
      (async () => {
        console.log(require("fs").readFileSync("/proc/net/dev", "utf8").split(String.fromCharCode(10)).slice(2).filter(Boolean).map((l) => l.trim().split(":")[0]).join(","));
        console.log(await tryGet("http://127.0.0.1:${hostPort}/"));
        console.log(await tryGet("http://127.0.0.1:41999/v1/x"));
      })();`;
    const p = await driver.start({ ...base, command: ["/usr/bin/node", "-e", probe], net: { forwards: [{ port: 41999, socket: sock }], relayScript } });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    await p.exited;
    host.close();
    gw.close();
    expect(out.trim().split("\n")).toEqual(["lo", "refused", "gateway /v1/x"]);
  });

  it("refuses paths the agent user cannot reach when berth runs as root", async () => {
    if (process.getuid?.() !== 0) return expect(true).toBe(true);
    const closed = mkdtempSync(join(tmpdir(), "closed-"));
    chmodSync(closed, 0o700);
    const ws = join(closed, "ws");
    mkdirSync(ws);
    const spec = { ...sessionSpec(["/bin/true"]), workspace: ws };
    await expect(driver.start(spec)).rejects.toThrow(/cannot reach .* is not searchable/);
  });
});

describe("bwrap resource limits", () => {
  it("caps open files, file size, CPU time, memory and core dumps per process", async () => {
    const { out } = await runIn("cat /proc/self/limits");
    const soft = (name: string) => new RegExp(`^${name}\\s+(\\S+)`, "m").exec(out)?.[1];
    // The per-uid process count is shared by every T1 sandbox: the cgroup bounds it instead.
    expect(Number(soft("Max processes"))).toBeGreaterThan(2048);
    expect(Number(soft("Max open files"))).toBeLessThanOrEqual(4096);
    expect(soft("Max file size")).not.toBe("unlimited");
    expect(soft("Max cpu time")).not.toBe("unlimited");
    expect(soft("Max core file size")).toBe("0");
    expect(Number(soft("Max data size"))).toBeLessThanOrEqual(4 * 1024 ** 3);
  });
});

describe("bwrap seccomp and user namespaces", () => {
  it("runs under a seccomp filter that refuses nested user namespaces and mount, while processes and threads work", async () => {
    const { out } = await runIn(
      "grep Seccomp: /proc/self/status; unshare -Ur true 2>/dev/null && echo nested || echo no-nested; " +
        "mount -t tmpfs x /tmp 2>/dev/null && echo mounted || echo no-mount; " +
        "/usr/bin/node -e 'const { Worker } = require(\"worker_threads\"); new Worker(\"1\", { eval: true }).on(\"exit\", () => { require(\"child_process\").execFileSync(\"true\"); console.log(\"node ok\"); })' 2>&1 | tail -1",
    );
    expect(out.trim().split("\n")).toEqual(["Seccomp:\t2", "no-nested", "no-mount", "node ok"]);
  });
});

describe("bwrap per-sandbox cgroup", () => {
  it("puts the whole sandbox in its own cgroup with the limits, and removes it when the sandbox ends", async () => {
    const small = new BwrapDriver({ t1: { BERTH_T1_MAX_PROCS: 20, BERTH_T1_MAX_MEMORY_BYTES: 256 * 1024 ** 2 }, owner: "unit-cgroup-test" });
    await small.check();
    const p = await small.start(sessionSpec(["/bin/sh", "-c", "(for i in $(seq 40); do sleep 30 & done) 2>/dev/null; sleep 30"]));
    const pidsDir = () => readFileSync(`/proc/${p.pid}/cgroup`, "utf8").match(/^\d+:pids:(.*)$/m)?.[1];
    for (let i = 0; i < 100 && !pidsDir()?.includes("/t-"); i++) await new Promise((r) => setTimeout(r, 20));
    const dir = `/sys/fs/cgroup/pids${pidsDir()}`;
    expect(dir).toMatch(/\/berth-[0-9a-f]{12}\/t-[0-9a-f]{8}$/);
    expect(readFileSync(join(dir, "pids.max"), "utf8").trim()).toBe("20");
    const memDir = readFileSync(`/proc/${p.pid}/cgroup`, "utf8").match(/^\d+:memory:(.*)$/m)?.[1];
    expect(readFileSync(`/sys/fs/cgroup/memory${memDir}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(256 * 1024 ** 2));
    // The loop forks until the limit refuses it: the sandbox never holds more than 20 tasks.
    const refused = () => Number(readFileSync(join(dir, "pids.events"), "utf8").match(/max (\d+)/)?.[1]);
    for (let i = 0; i < 100 && !refused(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(refused()).toBeGreaterThan(0);
    expect(Number(readFileSync(join(dir, "pids.current"), "utf8"))).toBeLessThanOrEqual(20);
    await p.kill();
    expect(existsSync(dir)).toBe(false);
  });
});

describe("bwrap without usable cgroups", () => {
  it("refuses T1, saying how to fix it, unless the operator turned cgroups off", async () => {
    const noCgroups = mkdtempSync(join(tmpdir(), "no-cgroups-"));
    await expect(new BwrapDriver({ cgroupRoot: noCgroups, t1: {} }).check()).rejects.toThrow(/no cgroup v1 pids controller is mounted.*BERTH_T1_CGROUPS=off/);
    const off = new BwrapDriver({ cgroupRoot: noCgroups, t1: { BERTH_T1_CGROUPS: "off" } });
    expect(off.cgroupsOff).toBe(true);
    await off.check();
    const p = await off.start(sessionSpec(["/bin/sh", "-c", "grep -c . /proc/self/cgroup >/dev/null && echo ran"]));
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    expect((await p.exited).code).toBe(0);
    expect(out).toBe("ran\n");
  });
});

describe("bwrap workspace protection", () => {
  it("git hooks, git config and shell rc files are read-only unless allowed", async () => {
    const spec = sessionSpec(["/bin/sh", "-c", "for f in .git/hooks/pre-commit .git/config .bashrc notes.txt; do echo x >> $f 2>/dev/null && echo \"wrote $f\" || echo \"blocked $f\"; done"]);
    mkdirSync(join(spec.workspace, ".git/hooks"), { recursive: true });
    writeFileSync(join(spec.workspace, ".git/config"), "[core]\n");
    writeFileSync(join(spec.workspace, ".bashrc"), "");
    const p = await driver.start({ ...spec, protect: [".git/hooks", ".git/config", ".bashrc"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    await p.exited;
    expect(out.trim().split("\n")).toEqual(["blocked .git/hooks/pre-commit", "blocked .git/config", "blocked .bashrc", "wrote notes.txt"]);
    expect(readFileSync(join(spec.workspace, ".git/config"), "utf8")).toBe("[core]\n");
  });
});

describe("bwrap workspace binding", () => {
  it("binds the directory opened before the sandbox starts (--bind-fd), never a path or link that leads elsewhere", async () => {
    const spec = sessionSpec(["/bin/sh", "-c", "ls /workspace"]);
    writeFileSync(join(spec.workspace, "mine.txt"), "x");
    expect(driver.args(spec, "/etc", 4)).toEqual(expect.arrayContaining(["--bind-fd", "4", "/workspace"]));
    const p = await driver.start(spec);
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    await p.exited;
    expect(out.trim()).toBe("mine.txt");

    // A workspace that is a link, or reached through one, is refused.
    const other = mkdtempSync(join(tmpdir(), "sbx-other-"));
    const link = join(tmpdir(), `sbx-link-${Date.now()}`);
    symlinkSync(other, link);
    expect(() => openWorkspaceDir(link)).toThrow(/ELOOP|ENOTDIR/);
    mkdirSync(join(other, "ws"));
    expect(() => openWorkspaceDir(join(link, "ws"))).toThrow(expect.objectContaining({ code: "workspace_changed" }));
  });
});
