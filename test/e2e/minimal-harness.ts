import { registerHarness, getHarness } from "../../src/harnesses/registry.js";
import type { HarnessSpec } from "../../src/harnesses/types.js";

// A minimal ACP agent as a harness, for tests and benchmarks that need many sessions and
// no model: plain Node, no dependencies (so its install is an empty npm project), written
// into the session's HOME. Each prompt is answered with MINIMAL_UPDATES message chunks
// numbered 0..N-1, then end_turn. Registered only in the process that imports this file.

/** The agent program itself (also run by the ingest bench through the peer sandbox-agent). */
export const MINIMAL_AGENT_JS = String.raw`"use strict";
const N = Number(process.env.MINIMAL_UPDATES || 20);
let buf = "";
let sessions = 0;
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\n");
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (line) handle(JSON.parse(line));
  }
});
process.stdin.on("end", () => process.exit(0));
function handle(m) {
  if (m.id === undefined || m.method === undefined) return; // notifications (cancel) and responses
  switch (m.method) {
    case "initialize":
      return send({ id: m.id, result: { protocolVersion: 1, agentCapabilities: {}, agentInfo: { name: "minimal-agent", version: "1" } } });
    case "session/new":
      return send({ id: m.id, result: { sessionId: "min_" + ++sessions } });
    case "session/prompt":
      for (let k = 0; k < N; k++)
        send({ method: "session/update", params: { sessionId: m.params.sessionId, update: { sessionUpdate: "agent_message_chunk", content: { type: "text", text: "chunk " + k + ";" } } } });
      return send({ id: m.id, result: { stopReason: "end_turn" } });
    default:
      return send({ id: m.id, error: { code: -32601, message: "method not found: " + m.method } });
  }
}
`;

export const MINIMAL_HARNESS: HarnessSpec = {
  id: "minimal",
  name: "minimal ACP agent (tests and benchmarks)",
  version: "1.0.0",
  packages: [],
  license: "MIT",
  redistributable: true,
  asksPermission: false,
  api: "anthropic-messages",
  authMethods: [],
  launch({ layout }) {
    return {
      command: [layout.node, `${layout.home}/agent.js`],
      env: { MINIMAL_UPDATES: process.env.MINIMAL_UPDATES ?? "20" },
      homeFiles: [{ path: "agent.js", content: MINIMAL_AGENT_JS, mode: 0o644 }],
    };
  },
};

/** Registers the minimal harness in this process (once). */
export function useMinimalHarness(): HarnessSpec {
  if (!getHarness(MINIMAL_HARNESS.id)) registerHarness(MINIMAL_HARNESS);
  return MINIMAL_HARNESS;
}
