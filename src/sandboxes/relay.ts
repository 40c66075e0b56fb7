import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SANDBOX_RUN_DIR, type SandboxNet } from "./types.js";

/**
 * The in-sandbox relay. An isolated sandbox has no network of its own; berth hands it
 * unix sockets (the model gateway, the egress proxy) under /run/berth, and this small
 * program, run as the sandbox's first process, listens on 127.0.0.1:<port> for each and
 * forwards to the socket, then runs the harness. So the harness sees ordinary loopback
 * URLs and nothing else is reachable. Plain JavaScript (no dependencies): it runs under
 * the sandbox's own node.
 *
 * Usage: node relay.js <port>=<socket> [<port>=<socket> ...] -- <command> [args...]
 *    or: BERTH_RELAY_FORWARDS=<port>=<socket>,... node --require relay.js <harness.js> [args...]
 */
export const RELAY_JS = String.raw`"use strict";
const net = require("node:net");
function forward(port, socket) {
  const srv = net.createServer((c) => {
    const u = net.connect(socket);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
    c.pipe(u).pipe(c);
  });
  srv.listen(port, "127.0.0.1");
  return srv;
}
if (require.main !== module) {
  // Preloaded into the harness's own Node process (node --require relay.js harness.js):
  // the listeners are bound when this returns, and hold nothing open at exit. The variable
  // goes, so a child the harness spawns does not try the ports again.
  const maps = (process.env.BERTH_RELAY_FORWARDS || "").split(",").filter(Boolean);
  delete process.env.BERTH_RELAY_FORWARDS;
  for (const m of maps) {
    const i = m.indexOf("=");
    const port = m.slice(0, i);
    forward(Number(port), m.slice(i + 1))
      // In use: a child of the harness that kept the flag; its parent serves the port.
      .on("error", (e) => e.code === "EADDRINUSE" || process.stderr.write("relay: " + port + ": " + e.message + "\n"))
      .unref();
  }
  return;
}
const { spawn } = require("node:child_process");
const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
if (sep < 1 || sep === argv.length - 1) { process.stderr.write("relay: usage: <port>=<socket>... -- command\n"); process.exit(2); }
const maps = argv.slice(0, sep).map((m) => { const i = m.indexOf("="); return { port: Number(m.slice(0, i)), socket: m.slice(i + 1) }; });
const cmd = argv.slice(sep + 1);
let pending = maps.length;
for (const { port, socket } of maps) {
  const srv = forward(port, socket);
  srv.on("error", (e) => { process.stderr.write("relay: " + port + ": " + e.message + "\n"); process.exit(70); });
  srv.on("listening", () => { if (--pending === 0) start(); });
}
function start() {
  const child = spawn(cmd[0], cmd.slice(1), { stdio: "inherit" });
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(s, () => child.kill(s));
  child.on("exit", (code, sig) => process.exit(code === null ? 128 + (require("node:os").constants.signals[sig] || 9) : code));
  child.on("error", (e) => { process.stderr.write("relay: " + cmd[0] + ": " + e.message + "\n"); process.exit(127); });
}
`;

/** Where a driver mounts the relay, and berth's i-th socket, inside a sandbox. */
export const RELAY_INSIDE = `${SANDBOX_RUN_DIR}/relay.js`;
export const socketInside = (i: number): string => `${SANDBOX_RUN_DIR}/s${i}.sock`;

/** The net's forwards as the relay inside sees them: each port to where its socket is mounted. */
export function relayForwards(net: SandboxNet): { port: number; inside: string }[] {
  return net.forwards.map((f, i) => ({ port: f.port, inside: socketInside(i) }));
}

/**
 * The sandbox's command with berth's sockets on loopback. A harness that is itself a Node
 * program (command[0] is the sandbox's node) loads the relay into its own process: one
 * process (a whole Node runtime, ~40 MB and ~40 ms of CPU) less per sandbox. Any other
 * command runs under the relay, as the sandbox's first process.
 */
export function relayedCommand(node: string, script: string, forwards: { port: number; inside: string }[], command: string[]): { command: string[]; env: Record<string, string> } {
  const maps = forwards.map((f) => `${f.port}=${f.inside}`);
  if (command[0] === node) return { command: [node, "--require", script, ...command.slice(1)], env: { BERTH_RELAY_FORWARDS: maps.join(",") } };
  return { command: [node, script, ...maps, "--", ...command], env: {} };
}

/** Writes the relay next to a session's files; drivers mount it read-only. */
export function writeRelay(dir: string): string {
  const p = join(dir, "relay.js");
  writeFileSync(p, RELAY_JS, { mode: 0o644 });
  return p;
}
