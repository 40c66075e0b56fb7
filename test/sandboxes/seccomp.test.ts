import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ALLOWED_PERSONALITIES,
  AUDIT_ARCH,
  BPF,
  DATA,
  DENIED,
  ENOSYS,
  EPERM,
  RET,
  SYSCALLS,
  X32_SYSCALL_BIT,
  encodeProgram,
  seccompProgram,
  type Insn,
  type SeccompArch,
} from "../../src/sandboxes/seccomp.js";

/** A classic-BPF interpreter for the instructions the generator emits, over a struct seccomp_data. */
function runFilter(prog: Insn[], data: { nr: number; arch: number; args?: number[] }): number {
  const word = (off: number): number => {
    if (off === DATA.nr) return data.nr >>> 0;
    if (off === DATA.arch) return data.arch >>> 0;
    const i = (off - 16) / 8;
    if (Number.isInteger(i) && i >= 0 && i < 6) return (data.args?.[i] ?? 0) >>> 0;
    throw new Error(`load of an offset the filter should not read: ${off}`);
  };
  let a = 0;
  for (let pc = 0, steps = 0; pc < prog.length && steps < 10_000; steps++) {
    const i = prog[pc]!;
    switch (i.code) {
      case BPF.LD_W_ABS: a = word(i.k); pc++; break;
      case BPF.JEQ_K: pc += 1 + (a === i.k >>> 0 ? i.jt : i.jf); break;
      case BPF.JGE_K: pc += 1 + (a >= i.k >>> 0 ? i.jt : i.jf); break;
      case BPF.JSET_K: pc += 1 + ((a & i.k) >>> 0 ? i.jt : i.jf); break;
      case BPF.RET_K: return i.k >>> 0;
      default: throw new Error(`unknown opcode ${i.code}`);
    }
  }
  throw new Error("the program ran off its end");
}

const errno = (e: number) => (RET.ERRNO | e) >>> 0;

/** Syscall numbers as the installed kernel headers (linux-libc-dev) define them. */
function headerNumbers(arch: SeccompArch): Map<string, number> {
  const file = arch === "x86_64" ? "/usr/include/x86_64-linux-gnu/asm/unistd_64.h" : "/usr/include/asm-generic/unistd.h";
  if (!existsSync(file)) throw new Error(`${file} is missing: install the kernel headers (apt-get install linux-libc-dev) to check the syscall tables`);
  const out = new Map<string, number>();
  for (const m of readFileSync(file, "utf8").matchAll(/^#define __NR(?:3264)?_(\w+)\s+(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe.each(["x86_64", "aarch64"] as const)("seccomp filter (%s)", (arch) => {
  const prog = seccompProgram(arch);
  const nr = SYSCALLS[arch];
  const call = (name: string, args?: number[]) => runFilter(prog, { nr: nr[name]!, arch: AUDIT_ARCH[arch], args });

  it("uses the kernel's syscall numbers", () => {
    const h = headerNumbers(arch);
    for (const [name, n] of Object.entries(nr)) expect(`${name}=${h.get(name)}`).toBe(`${name}=${n}`);
  });

  it("fits classic BPF: jumps within 8 bits, under the kernel's 4096 instructions", () => {
    expect(prog.length).toBeLessThan(4096);
    for (const i of prog) expect(i.jt <= 255 && i.jf <= 255).toBe(true);
    expect(encodeProgram(prog).length).toBe(prog.length * 8);
  });

  it("denies every listed syscall with EPERM", () => {
    const present = DENIED.filter((s) => nr[s] !== undefined);
    expect(present).toEqual(expect.arrayContaining(["mount", "umount2", "pivot_root", "unshare", "setns", "keyctl", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "kexec_load", "init_module"]));
    for (const s of present) expect(`${s}:${call(s)}`).toBe(`${s}:${errno(EPERM)}`);
  });

  it("allows ordinary syscalls (read, write, openat, execve, ptrace) and a plain fork or thread", () => {
    const h = headerNumbers(arch);
    for (const s of ["read", "write", "openat", "execve", "ptrace", "mmap", "wait4"])
      expect(`${s}:${runFilter(prog, { nr: h.get(s)!, arch: AUDIT_ARCH[arch] })}`).toBe(`${s}:${RET.ALLOW}`);
    expect(call("clone", [17 /* SIGCHLD: fork */])).toBe(RET.ALLOW);
    expect(call("clone", [0x3d0f00 /* glibc's pthread_create flags */])).toBe(RET.ALLOW);
  });

  it("refuses clone with any namespace flag, and clone3 with ENOSYS so libc falls back to clone", () => {
    for (const f of [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000])
      expect(call("clone", [f | 17])).toBe(errno(EPERM));
    expect(call("clone3")).toBe(errno(ENOSYS));
  });

  it("allows only Docker's personalities, and no AF_VSOCK sockets", () => {
    for (const p of ALLOWED_PERSONALITIES) expect(call("personality", [p])).toBe(RET.ALLOW);
    expect(call("personality", [0x0400000 /* READ_IMPLIES_EXEC */])).toBe(errno(EPERM));
    expect(call("socket", [2 /* AF_INET */])).toBe(RET.ALLOW);
    expect(call("socket", [40 /* AF_VSOCK */])).toBe(errno(EPERM));
  });

  it("kills a process that calls through a foreign ABI", () => {
    expect(runFilter(prog, { nr: 0, arch: 0x40000003 /* i386 */ })).toBe(RET.KILL_PROCESS);
    const other = arch === "x86_64" ? AUDIT_ARCH.aarch64 : AUDIT_ARCH.x86_64;
    expect(runFilter(prog, { nr: 0, arch: other })).toBe(RET.KILL_PROCESS);
  });

  if (arch === "x86_64")
    it("refuses the x32 ABI", () => {
      expect(runFilter(prog, { nr: X32_SYSCALL_BIT | 0, arch: AUDIT_ARCH.x86_64 })).toBe(errno(ENOSYS));
      expect(runFilter(prog, { nr: X32_SYSCALL_BIT | nr.mount!, arch: AUDIT_ARCH.x86_64 })).toBe(errno(ENOSYS));
    });
});
