// A minimal ACP agent for benchmarks: each prompt is answered with FLOOD_UPDATES
// agent_message_chunk notifications, sent as fast as its stdout takes them, then end_turn.
// It talks to no model; it is not a harness berth offers.
import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";

const N = Number(process.env.FLOOD_UPDATES ?? 20000);
let sessions = 0;
const stream = acp.ndJsonStream(Writable.toWeb(process.stdout), Readable.toWeb(process.stdin));
acp
  .agent({ name: "flood-agent" })
  .onRequest(acp.methods.agent.initialize, () => ({ protocolVersion: acp.PROTOCOL_VERSION, agentCapabilities: {}, agentInfo: { name: "flood-agent", version: "1" } }))
  .onRequest(acp.methods.agent.session.new, () => ({ sessionId: `flood_${++sessions}` }))
  .onRequest(acp.methods.agent.session.prompt, async ({ params, client }) => {
    for (let i = 0; i < N; i++)
      await client.notify(acp.methods.client.session.update, {
        sessionId: params.sessionId,
        update: { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `chunk ${i} of the flood ` } },
      });
    return { stopReason: "end_turn" };
  })
  .connect(stream);
