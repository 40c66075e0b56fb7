import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { ModelGateway, singleRoute } from "../src/gateway/gateway.js";
import { parseMockScript, startMockProvider } from "../src/mock/index.js";
import { Redactor } from "../src/secrets/redact.js";
import { createMetrics } from "../src/telemetry/metrics.js";
import { fmtMs, heading, median, now, percentile, progress, say, table } from "./util.js";

// The model gateway's cost on its own: the same streamed Anthropic Messages call straight to
// the mock provider and through berth's gateway. Three processes, as in production: this one
// is the harness (a keep-alive HTTP client), one child is the provider (berth's mock), the
// other is berth's gateway (token check, credential swap, usage taps, metrics). Each call is
// timed to response headers, to the first body byte and to the end of the stream; a large
// streamed answer gives throughput.

const CALLS = Number(process.env.BENCH_GATEWAY_CALLS ?? 200);
const BIG_CALLS = Number(process.env.BENCH_GATEWAY_BIG_CALLS ?? 10);
const BIG_WORDS = 200_000; // ~1.2 MB of SSE
const BIG_REQUEST_CALLS = Number(process.env.BENCH_GATEWAY_BIG_REQUEST_CALLS ?? 20);
/** A long conversation: the gateway reads the whole request (model pin, budget hold) before it sends it on. */
const BIG_REQUEST = "word ".repeat(200_000); // ~1 MB
const UPSTREAM_KEY = "bench-upstream-key";
/** Set to a directory to write a CPU profile of the gateway process (see profile-summary.ts). */
const PROF_DIR = process.env.BENCH_GATEWAY_PROF;

type Role = { role: "mock" } | { role: "gateway"; upstreams: Urls };
/** The short and the large answer come from two mock providers (a script has no branches). */
type Urls = { small: string; big: string };

// --- child processes -------------------------------------------------------------------------

async function child(role: Role): Promise<void> {
  if (role.role === "mock") {
    const [small, big] = await Promise.all(
      [`steps:\n  - text: "ok, done"\n`, `steps:\n  - text: "${"word ".repeat(BIG_WORDS).trim()}"\n`].map((y) =>
        startMockProvider({ script: parseMockScript(y), requireKey: UPSTREAM_KEY }),
      ),
    );
    process.send!({ small: small!.url, big: big!.url });
    return;
  }
  const redactor = new Redactor();
  redactor.add(UPSTREAM_KEY);
  const gateway = new ModelGateway({ redactor, metrics: createMetrics() });
  await gateway.start();
  const mint = (sessionId: string, baseUrl: string) =>
    gateway.mint(sessionId, {
      upstream: singleRoute({ provider: "mock", api: "anthropic-messages", baseUrl, auth: { header: "x-api-key", value: UPSTREAM_KEY } }),
      onCall: () => {},
      admit: () => ({ ok: true, settle() {} }),
    });
  process.once("SIGINT", () => process.exit(0)); // a normal exit, so --cpu-prof writes its file
  const url = gateway.baseUrl("anthropic-messages");
  process.send!({ small: url, big: url, smallToken: mint("ses_small", role.upstreams.small), bigToken: mint("ses_big", role.upstreams.big) });
}

type ChildInfo = Urls & { smallToken?: string; bigToken?: string };

async function spawnChild(role: Role): Promise<{ proc: ChildProcess; info: ChildInfo }> {
  const proc = fork(import.meta.filename, [], { env: { ...process.env, BENCH_GATEWAY_ROLE: JSON.stringify(role) }, execArgv: ["--import", "tsx", ...(role.role === "gateway" && PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROF_DIR}`] : [])], stdio: "inherit" });
  const [info] = (await once(proc, "message")) as [ChildInfo];
  return { proc, info };
}

// --- the harness side ------------------------------------------------------------------------

interface Timing {
  headers: number;
  firstByte: number;
  total: number;
  bytes: number;
}

// fetch (undici) keeps connections alive, as the harnesses' SDKs do.
async function call(url: string, key: string, content = "hello"): Promise<Timing> {
  const body = JSON.stringify({ model: "mock-bench", max_tokens: 1024, stream: true, messages: [{ role: "user", content }] });
  const t0 = now();
  const res = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01" },
    body,
  });
  const headers = now() - t0;
  let firstByte = 0;
  let bytes = 0;
  let tail = "";
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!bytes) firstByte = now() - t0;
    bytes += value.length;
    tail = (tail + Buffer.from(value).toString("latin1")).slice(-64);
  }
  const total = now() - t0;
  if (res.status !== 200 || !tail.includes("message_stop")) throw new Error(`model call to ${url}: HTTP ${res.status}`);
  return { headers, firstByte, total, bytes };
}

export async function run(): Promise<void> {
  heading("Model gateway: added latency and streamed throughput (Anthropic Messages, SSE)");
  const mock = await spawnChild({ role: "mock" });
  const gw = await spawnChild({ role: "gateway", upstreams: mock.info });
  const targets = {
    small: { direct: { url: mock.info.small, key: UPSTREAM_KEY }, gateway: { url: gw.info.small, key: gw.info.smallToken! } },
    big: { direct: { url: mock.info.big, key: UPSTREAM_KEY }, gateway: { url: gw.info.big, key: gw.info.bigToken! } },
  };
  type K = "direct" | "gateway";
  const one = (size: "small" | "big", k: K, content?: string) => call(targets[size][k].url, targets[size][k].key, content);
  const small: Record<K, Timing[]> = { direct: [], gateway: [] };
  const big: Record<K, Timing[]> = { direct: [], gateway: [] };
  const bigRequest: Record<K, Timing[]> = { direct: [], gateway: [] };
  try {
    progress(`gateway: warm-up, then ${CALLS} small calls each way, interleaved`);
    for (let i = 0; i < 20; i++) for (const k of ["direct", "gateway"] as K[]) await one("small", k);
    for (let i = 0; i < CALLS; i++) for (const k of (i % 2 ? ["direct", "gateway"] : ["gateway", "direct"]) as K[]) small[k].push(await one("small", k));
    progress(`gateway: ${BIG_CALLS} large streamed answers each way`);
    for (let i = 0; i < BIG_CALLS; i++)
      for (const k of (i % 2 ? ["direct", "gateway"] : ["gateway", "direct"]) as K[]) big[k].push(await one("big", k));
    progress(`gateway: ${BIG_REQUEST_CALLS} calls with a ${(BIG_REQUEST.length / 1e6).toFixed(1)} MB request each way`);
    for (let i = 0; i < BIG_REQUEST_CALLS; i++)
      for (const k of (i % 2 ? ["direct", "gateway"] : ["gateway", "direct"]) as K[]) bigRequest[k].push(await one("small", k, BIG_REQUEST));
  } finally {
    mock.proc.kill();
    gw.proc.kill("SIGINT"); // lets --cpu-prof write its profile
    await once(gw.proc, "exit");
  }

  const row = (label: string, pick: (t: Timing) => number, xs: Record<K, Timing[]>) => {
    const d = xs.direct.map(pick);
    const g = xs.gateway.map(pick);
    return [label, fmtMs(median(d)), fmtMs(median(g)), fmtMs(median(g) - median(d)), fmtMs(percentile(d, 90)), fmtMs(percentile(g, 90))];
  };
  say(`${CALLS} sequential calls each way over keep-alive connections, interleaved; a short streamed answer ("ok, done", ${small.direct[0]!.bytes} bytes of SSE).`);
  say();
  say(
    table([
      ["small streamed call", "direct median", "via gateway median", "added median", "direct p90", "via gateway p90"],
      row("response headers", (t) => t.headers, small),
      row("first body byte", (t) => t.firstByte, small),
      row("whole stream", (t) => t.total, small),
    ]),
  );
  say();
  say(`${BIG_REQUEST_CALLS} calls each way with a ${(BIG_REQUEST.length / 1e6).toFixed(1)} MB request body (a long conversation), short answer:`);
  say();
  say(
    table([
      ["large request", "direct median", "via gateway median", "added median", "direct p90", "via gateway p90"],
      row("response headers", (t) => t.headers, bigRequest),
      row("whole stream", (t) => t.total, bigRequest),
    ]),
  );
  say();
  const mbps = (t: Timing) => t.bytes / 1e6 / (t.total / 1000);
  const mb = (big.direct[0]!.bytes / 1e6).toFixed(2);
  say(`${BIG_CALLS} large streamed answers each way (${mb} MB of SSE each):`);
  say();
  say(
    table([
      ["large streamed call", "direct median", "via gateway median", "ratio"],
      ["whole stream", fmtMs(median(big.direct.map((t) => t.total))), fmtMs(median(big.gateway.map((t) => t.total))), (median(big.gateway.map((t) => t.total)) / median(big.direct.map((t) => t.total))).toFixed(2)],
      ["throughput", `${median(big.direct.map(mbps)).toFixed(1)} MB/s`, `${median(big.gateway.map(mbps)).toFixed(1)} MB/s`, (median(big.gateway.map(mbps)) / median(big.direct.map(mbps))).toFixed(2)],
    ]),
  );
}

if (process.env.BENCH_GATEWAY_ROLE) await child(JSON.parse(process.env.BENCH_GATEWAY_ROLE) as Role);
