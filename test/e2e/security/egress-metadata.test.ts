import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, isFailed, isReady, newWorkspace, processEnv, sessionPids, startBerth, turnEnded, type BerthProc } from "../helpers.js";

// A real Pi in a real T1 sandbox, whose session allows private addresses and lists every
// target below, asks its egress proxy (the only way out of its network namespace) for cloud
// metadata endpoints and for berth's own API, gateway and mock model on every local address.
// So is another session's proxy (a T4 session's, on a loopback port), whose allowlist is not
// this session's. Each is refused with 403 and the reason's code; none of them sees a request. A server of
// the test's own on 127.0.0.2 is reachable through the same proxy, so the refusals are the
// policy's and not a broken proxy.

let berth: BerthProc;
let control: http.Server;
let gatewayPort = 0;
const controlHits: string[] = [];

beforeAll(async () => {
  control = http.createServer((req, res) => {
    controlHits.push(req.url!);
    res.end("control ok");
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.2", r));
  // berth's own mock model runs this script: every turn runs the workspace's run.sh.
  const script = join(mkdtempSync(join(tmpdir(), "egress-script-")), "script.yaml");
  writeFileSync(script, 'steps:\n  - tool: { name: bash, input: { command: "sh run.sh > result.txt 2>&1" } }\n  - text: "Done."\n');
  // A fixed gateway port, so the session's allowlist can name it.
  const free = http.createServer();
  await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
  gatewayPort = (free.address() as AddressInfo).port;
  await new Promise((r) => free.close(r));
  berth = await startBerth({ env: { BERTH_MOCK_SCRIPT: script, BERTH_GATEWAY_PORT: String(gatewayPort) } });
});
afterAll(async () => {
  await berth?.stop();
  await new Promise((r) => control.close(r));
});

const portOf = (url: string) => Number(new URL(url).port);

describe("egress: metadata and berth's own endpoints", () => {
  it("are refused through the session's proxy with allowPrivateAddresses, whatever the allowlist", async () => {
    // Said right after the "listening" line startBerth waits for.
    const mockLine = () => /berth's scripted mock \S+ at (http:\/\/\S+)/.exec(berth.log())?.[1];
    for (let i = 0; i < 100 && !mockLine(); i++) await new Promise((r) => setTimeout(r, 20));
    const mockUrl = mockLine();
    if (!mockUrl) throw new Error(`berth did not say where its mock model listens:\n${berth.log()}`);
    const api = portOf(berth.url);
    const mock = portOf(mockUrl);
    const controlPort = (control.address() as AddressInfo).port;
    // Every non-loopback IPv4 address of this host: "any local address".
    const local = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((i) => i.family === "IPv4" && !i.internal).map((i) => i.address);
    expect(local.length).toBeGreaterThan(0);

    // Another session's egress proxy: a T4 (host-access) session's listens on a loopback port.
    const t4 = await berth.client.createSession({ harness: "pi", tier: "host-access", workspace: newWorkspace("ws-egress-t4-") });
    const t4Ready = await collect(berth.client, t4.id, (e) => isReady(e) || isFailed(e), { timeoutMs: 180_000 });
    if (!isReady(t4Ready.at(-1)!)) throw new Error(`the T4 session did not start (needs scripts/podman-setup.sh): ${JSON.stringify(t4Ready.at(-1)!.data)}`);
    const t4Proxy = sessionPids(t4.id).map((p) => processEnv(p).HTTP_PROXY).find(Boolean);
    if (!t4Proxy) throw new Error("found no process of the T4 session with its proxy in the environment");
    const t4Port = portOf(t4Proxy);

    const ws = newWorkspace("ws-egress-");
    // Targets: [label, host as written in a URL, port].
    const targets: [string, string, string][] = [
      ["ecs", "169.254.170.2", "80"],
      ["imds", "169.254.169.254", "80"],
      ["ecs6", "[fd00:ec2::23]", "80"],
      ["imds6", "[fd00:ec2::254]", "80"],
      ["api_lo", "127.0.0.1", String(api)],
      ["api_name", "localhost", String(api)],
      ["api_any", "0.0.0.0", String(api)],
      ["api_any6", "[::]", String(api)],
      ["api_mapped", "[::ffff:127.0.0.1]", String(api)],
      ...local.map((a, i) => [`api_local${i}`, a, String(api)] as [string, string, string]),
      ["gateway", "127.0.0.1", String(gatewayPort)],
      ["mock", "127.0.0.1", String(mock)],
      ["t4_proxy", "127.0.0.1", String(t4Port)],
      ["control", "127.0.0.2", String(controlPort)],
    ];
    const hostOf = (h: string) => h.replace(/^\[|\]$/g, "");
    // curl goes through the proxy (the sandbox's HTTP_PROXY): plain HTTP shows the refusal's
    // header, CONNECT (-p) the tunnel's status.
    writeFileSync(
      join(ws, "run.sh"),
      [
        'echo gwport=$(echo "$BERTH_GATEWAY_URL" | sed "s/.*://")',
        ...targets.map(
          ([label, host, port]) =>
            `echo ${label}=$(curl -s -o /dev/null -D - --noproxy '' -x "$HTTP_PROXY" http://${host}:${port}/v1/sessions | tr -d '\\r' | awk 'NR==1{s=$2} tolower($1)=="x-berth-egress-refused:"{c=$2} END{print s":"c}'),` +
            `$(curl -s -o /dev/null -w '%{http_connect}' -p --noproxy '' -x "$HTTP_PROXY" http://${host}:${port}/)`,
        ),
      ].join("\n"),
    );
    const allow = targets.map(([, host, port]) => `${host}:${port}`);
    const s = await berth.client.createSession({ harness: "pi", workspace: ws, network: { allow, allowPrivateAddresses: true } });
    await collect(berth.client, s.id, isReady);
    const turn = await berth.client.postTurn(s.id, "probe");
    await collect(berth.client, s.id, turnEnded(turn.id));
    const out = Object.fromEntries(
      readFileSync(join(ws, "result.txt"), "utf8").split("\n").filter((l) => l.includes("=")).map((l) => l.split("=") as [string, string]),
    );
    expect(Number(out.gwport)).toBe(gatewayPort);
    for (const [label, host] of targets) {
      if (label === "control") continue;
      const code = ["ecs", "imds", "ecs6", "imds6"].includes(label) ? "metadata_address" : "berth_endpoint";
      expect(`${label} ${hostOf(host)} ${out[label]}`).toBe(`${label} ${hostOf(host)} 403:${code},403`);
    }
    expect(out.control).toBe("200:,200");
    expect(controlHits.length).toBe(2);
    // berth's log has each refusal as an egress decision, and no allowed one but the control's.
    const decisions = berth.log().split("\n").filter((l) => l.includes('"egress"') && l.includes(s.id));
    expect(decisions.filter((l) => l.includes("egress allowed")).every((l) => l.includes("127.0.0.2"))).toBe(true);
    await berth.client.endSession(s.id);
    await berth.client.endSession(t4.id);
  }, 240_000);
});
