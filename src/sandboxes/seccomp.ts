/**
 * The T1 seccomp filter, as the classic-BPF program bwrap loads with --seccomp FD (there is
 * no libseccomp binding among berth's dependencies, and the program is small).
 *
 * It is at least as strict as Docker's default profile for an unprivileged container, as a
 * deny-list: syscalls that reach kernel attack surface or host-global state (mounts,
 * namespaces, modules, keyrings, BPF, perf, clocks, swap, reboot, io_uring, ...) fail with
 * EPERM; clone with a namespace flag fails with EPERM; clone3 fails with ENOSYS, so libc
 * falls back to clone, whose flags the filter can read (clone3's are behind a pointer). A
 * foreign ABI (i386 through int 0x80, x32) is refused outright: its numbers mean other
 * syscalls. ptrace stays allowed, as in Docker on kernels >= 4.8 (where seccomp can no
 * longer be bypassed through it): it only reaches the sandbox's own processes (same uid,
 * own pid namespace), and debuggers and strace are tools an agent uses.
 */

export type SeccompArch = "x86_64" | "aarch64";

/** AUDIT_ARCH_* (linux/audit.h): what seccomp_data.arch holds for a native syscall. */
export const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };

/** x86_64 syscalls with this bit set are the x32 ABI. */
export const X32_SYSCALL_BIT = 0x40000000;

// Syscall numbers: x86_64 from arch/x86/entry/syscalls/syscall_64.tbl, aarch64 from
// include/uapi/asm-generic/unistd.h (the unit test checks both against the installed headers).
// A syscall an architecture does not have is absent from its table.
const X86_64: Record<string, number> = {
  acct: 163, add_key: 248, bpf: 321, clock_adjtime: 305, clock_settime: 227, create_module: 174,
  delete_module: 176, finit_module: 313, fanotify_init: 300, fsconfig: 431, fsmount: 432, fsopen: 430,
  fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442, get_kernel_syms: 177,
  get_mempolicy: 239, init_module: 175, ioperm: 173, iopl: 172, kcmp: 312, kexec_file_load: 320,
  kexec_load: 246, keyctl: 250, lookup_dcookie: 212, mbind: 237, mount: 165, move_pages: 279,
  name_to_handle_at: 303, nfsservctl: 180, open_by_handle_at: 304, perf_event_open: 298,
  pivot_root: 155, process_vm_readv: 310, process_vm_writev: 311, query_module: 178, quotactl: 179,
  quotactl_fd: 443, reboot: 169, request_key: 249, set_mempolicy: 238, set_mempolicy_home_node: 450,
  setns: 308, settimeofday: 164, swapon: 167, swapoff: 168, sysfs: 139, _sysctl: 156, umount2: 166,
  unshare: 272, uselib: 134, userfaultfd: 323, ustat: 136, io_uring_setup: 425, io_uring_enter: 426,
  io_uring_register: 427, syslog: 103, vhangup: 153, sethostname: 170, setdomainname: 171,
  afs_syscall: 183, tuxcall: 184, security: 185, getpmsg: 181, putpmsg: 182, vserver: 236,
  // argument-checked or answered differently (below)
  clone: 56, clone3: 435, personality: 135, socket: 41,
};
const AARCH64: Record<string, number> = {
  acct: 89, add_key: 217, bpf: 280, clock_adjtime: 266, clock_settime: 112, delete_module: 106,
  finit_module: 273, fanotify_init: 262, fsconfig: 431, fsmount: 432, fsopen: 430, fspick: 433,
  move_mount: 429, open_tree: 428, mount_setattr: 442, get_mempolicy: 236, init_module: 105, kcmp: 272,
  kexec_file_load: 294, kexec_load: 104, keyctl: 219, lookup_dcookie: 18, mbind: 235, mount: 40,
  move_pages: 239, name_to_handle_at: 264, nfsservctl: 42, open_by_handle_at: 265, perf_event_open: 241,
  pivot_root: 41, process_vm_readv: 270, process_vm_writev: 271, quotactl: 60, quotactl_fd: 443,
  reboot: 142, request_key: 218, set_mempolicy: 237, set_mempolicy_home_node: 450, setns: 268,
  settimeofday: 170, swapon: 224, swapoff: 225, umount2: 39, unshare: 97, userfaultfd: 282,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, syslog: 116, vhangup: 58,
  sethostname: 161, setdomainname: 162,
  clone: 220, clone3: 435, personality: 92, socket: 198,
};
export const SYSCALLS: Record<SeccompArch, Record<string, number>> = { x86_64: X86_64, aarch64: AARCH64 };

/** Denied with EPERM whatever their arguments. */
export const DENIED = Object.keys(X86_64).filter((s) => !["clone", "clone3", "personality", "socket"].includes(s));

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (CLONE_NEWTIME is CSIGNAL's bit in clone). */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** personality() values Docker allows: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, and the query. */
export const ALLOWED_PERSONALITIES = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];
const AF_VSOCK = 40;

export const EPERM = 1;
export const ENOSYS = 38;

// Classic BPF (linux/filter.h, linux/seccomp.h).
export const BPF = { LD_W_ABS: 0x20, JEQ_K: 0x15, JGE_K: 0x35, JSET_K: 0x45, RET_K: 0x06 } as const;
export const RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, ALLOW: 0x7fff0000 } as const;
/** Offsets in struct seccomp_data: nr, arch, then args[6] (u64; low half first on little-endian). */
export const DATA = { nr: 0, arch: 4, argLow: (i: number) => 16 + 8 * i } as const;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const ld = (off: number): Insn => ({ code: BPF.LD_W_ABS, jt: 0, jf: 0, k: off });
const jeq = (k: number, jt: number, jf: number): Insn => ({ code: BPF.JEQ_K, jt, jf, k });
const ret = (k: number): Insn => ({ code: BPF.RET_K, jt: 0, jf: 0, k });
const errno = (e: number) => ret(RET.ERRNO | e);

/** A block for one syscall whose arguments decide: runs when nr matches, skipped otherwise. */
function guarded(nr: number, body: Insn[]): Insn[] {
  return [jeq(nr, 0, body.length), ...body];
}

/** The filter program for an architecture. */
export function seccompProgram(arch: SeccompArch): Insn[] {
  const nr = SYSCALLS[arch];
  const p: Insn[] = [ld(DATA.arch), jeq(AUDIT_ARCH[arch], 1, 0), ret(RET.KILL_PROCESS), ld(DATA.nr)];
  if (arch === "x86_64") p.push({ code: BPF.JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT }, errno(ENOSYS));
  for (const s of DENIED) if (nr[s] !== undefined) p.push(jeq(nr[s]!, 0, 1), errno(EPERM));
  p.push(jeq(nr.clone3!, 0, 1), errno(ENOSYS));
  // Each argument-checked block ends in a return, so the ones after it still see nr in A.
  p.push(
    ...guarded(nr.clone!, [ld(DATA.argLow(0)), { code: BPF.JSET_K, jt: 0, jf: 1, k: CLONE_NAMESPACE_FLAGS }, errno(EPERM), ret(RET.ALLOW)]),
    ...guarded(nr.personality!, [
      ld(DATA.argLow(0)),
      ...ALLOWED_PERSONALITIES.map((v, i) => jeq(v, ALLOWED_PERSONALITIES.length - i, 0)),
      errno(EPERM),
      ret(RET.ALLOW),
    ]),
    ...guarded(nr.socket!, [ld(DATA.argLow(0)), jeq(AF_VSOCK, 0, 1), errno(EPERM), ret(RET.ALLOW)]),
    ret(RET.ALLOW),
  );
  return p;
}

/** The program as struct sock_filter[] (little-endian, as on both supported architectures). */
export function encodeProgram(p: Insn[]): Buffer {
  const b = Buffer.alloc(p.length * 8);
  p.forEach((i, n) => {
    b.writeUInt16LE(i.code, n * 8);
    b.writeUInt8(i.jt, n * 8 + 2);
    b.writeUInt8(i.jf, n * 8 + 3);
    b.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return b;
}

/** This host's architecture as seccomp knows it; undefined when berth has no filter for it. */
export function nativeArch(arch: string = process.arch): SeccompArch | undefined {
  return arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : undefined;
}
