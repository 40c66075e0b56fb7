import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciDriver } from "../../../src/sandboxes/oci.js";
import { lines, readySession, runTurn, startScriptedBerth, type ScriptedBerth } from "./scripted-session.js";

// In a real sandbox of each tier, the agent tries to get out of its confinement through the
// kernel: a nested user namespace (root inside it), then raw syscalls that Docker's default
// profile denies. Each must be refused, while the tools an agent needs still work.

// x86_64 numbers; the probe reports "ok" or "refused:<errno>". Each of these succeeds for an
// unconfined uid 1000 process on this host (keyctl, unshare, personality), or fails with an
// argument error (io_uring_setup EFAULT, clone3 EINVAL) rather than EPERM/ENOSYS.
const PROBE = `perl -e '
for (["keyctl", 250, 0, -3], ["io_uring_setup", 425, 1, 0], ["unshare_newuser", 272, 0x10000000], ["unshare_newns", 272, 0x20000],
     ["clone3", 435, 0, 0], ["personality_rie", 135, 0x0400000], ["getpid", 39]) {
  my ($n, $nr, @a) = @$_; $! = 0; my $r = syscall($nr, @a); printf "%s=%s\\n", $n, ($r == -1 ? "refused:" . ($! + 0) : "ok");
}'
grep Seccomp: /proc/self/status | tr -d '\\t' | tr : =
unshare -Ur id -u >/dev/null 2>&1 && echo nested=yes || echo nested=no
git init -q /tmp/r && git -C /tmp/r status --short >/dev/null && echo git=ok
node -e 'require("child_process").execFileSync("true"); new (require("worker_threads").Worker)("1", { eval: true }).on("exit", () => console.log("node=ok"))'
bash -c 'echo bash=ok'
`;

const EPERM = "refused:1";
const ENOSYS = "refused:38";

let sb: ScriptedBerth;
beforeAll(async () => {
  if (process.arch !== "x64") throw new Error("this test's syscall numbers are x86_64's; run it on an x86_64 host");
  sb = await startScriptedBerth();
});
afterAll(async () => {
  await sb?.stop();
});

describe("seccomp and nested user namespaces", () => {
  it("T1 (process): no nested user namespace, denied syscalls refused, tools work", async () => {
    const { s, ws } = await readySession(sb.berth);
    const r = lines(await runTurn(sb.berth, s, ws, PROBE));
    expect(r).toMatchObject({
      Seccomp: "2",
      nested: "no",
      unshare_newuser: EPERM,
      unshare_newns: EPERM,
      keyctl: EPERM,
      io_uring_setup: EPERM,
      clone3: ENOSYS,
      personality_rie: EPERM,
      getpid: "ok",
      git: "ok",
      node: "ok",
      bash: "ok",
    });
    await sb.berth.client.endSession(s.id);
  }, 240_000);

  it("T2 (container): no nested user namespace, denied syscalls refused, tools work", async () => {
    try {
      await new OciDriver().check("container");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n=> run sudo bash scripts/podman-setup.sh`);
    }
    const { s, ws } = await readySession(sb.berth, { tier: "container" });
    const r = lines(await runTurn(sb.berth, s, ws, PROBE));
    // Under the engine's deny-by-default profile, a syscall it does not list fails with ENOSYS.
    const refused = expect.stringMatching(/^refused:(1|38)$/);
    expect(r).toMatchObject({
      Seccomp: "2",
      nested: "no",
      unshare_newuser: refused,
      unshare_newns: refused,
      keyctl: refused,
      io_uring_setup: refused,
      clone3: ENOSYS,
      personality_rie: refused,
      getpid: "ok",
      git: "ok",
      node: "ok",
      bash: "ok",
    });
    await sb.berth.client.endSession(s.id);
  }, 240_000);
});
