import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { relayedCommand, writeRelay } from "../../src/sandboxes/relay.js";

// The relay on the host (no sandbox): a unix-socket server stands for berth's gateway, and
// the relayed command reaches it on 127.0.0.1:<port>, in both of the relay's modes.
const run = promisify(execFile);
let servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers) s.close();
  servers = [];
});

async function unixEcho(dir: string): Promise<string> {
  const path = join(dir, "gw.sock");
  const srv = net.createServer((c) => c.end("hello from the socket"));
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(path, r));
  return path;
}

const PROBE = (port: number) =>
  `const c = require("node:net").connect(${port}, "127.0.0.1"); let s = ""; c.on("data", (d) => (s += d)); c.on("end", () => { console.log(s); console.log("env:" + (process.env.BERTH_RELAY_FORWARDS ?? "unset")); });`;

describe("the in-sandbox relay", () => {
  it("inside a Node harness's own process (--require): berth's socket on loopback, no extra process, the variable gone for children", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-relay-"));
    const sock = await unixEcho(dir);
    const port = 42000 + Math.floor(Math.random() * 1000);
    const { command, env } = relayedCommand(process.execPath, writeRelay(dir), [{ port, inside: sock }], [process.execPath, "-e", PROBE(port)]);
    expect(command.slice(0, 3)).toEqual([process.execPath, "--require", join(dir, "relay.js")]);
    const { stdout } = await run(command[0]!, command.slice(1), { env: { ...process.env, ...env } });
    expect(stdout).toBe("hello from the socket\nenv:unset\n");
  });

  it("a forked child of the harness (same --require) leaves the port to its parent, silently", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-relay-"));
    const sock = await unixEcho(dir);
    const port = 43000 + Math.floor(Math.random() * 1000);
    const script = writeRelay(dir);
    const child = `const r = require("node:child_process").spawnSync(process.execPath, ["--require", ${JSON.stringify(script)}, "-e", ${JSON.stringify(PROBE(port))}], { env: { ...process.env, BERTH_RELAY_FORWARDS: "${port}=${sock}" }, encoding: "utf8" }); process.stdout.write(r.stdout + "stderr:" + r.stderr);`;
    const { command, env } = relayedCommand(process.execPath, script, [{ port, inside: sock }], [process.execPath, "-e", child]);
    const { stdout } = await run(command[0]!, command.slice(1), { env: { ...process.env, ...env } });
    expect(stdout).toBe("hello from the socket\nenv:unset\nstderr:");
  });

  it("any other command runs under the relay as its first process", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-relay-"));
    const sock = await unixEcho(dir);
    const port = 44000 + Math.floor(Math.random() * 1000);
    const { command, env } = relayedCommand(process.execPath, writeRelay(dir), [{ port, inside: sock }], ["/bin/sh", "-c", `exec "${process.execPath}" -e '${PROBE(port)}'`]);
    expect(env).toEqual({});
    expect(command).toContain("--");
    const { stdout } = await run(command[0]!, command.slice(1));
    expect(stdout).toBe("hello from the socket\nenv:unset\n");
  });
});
