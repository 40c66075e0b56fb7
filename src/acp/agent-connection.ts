import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";
import type { SandboxProcess } from "../sandboxes/types.js";

export type { SessionUpdate, RequestPermissionRequest, RequestPermissionResponse, McpServer } from "@agentclientprotocol/sdk";

export interface AcpHandlers {
  onUpdate(acpSessionId: string, update: acp.SessionUpdate): void;
  onPermission(req: acp.RequestPermissionRequest, signal: AbortSignal): Promise<acp.RequestPermissionResponse>;
}

/**
 * berth's side of ACP v1 for one harness process: JSON-RPC over the sandbox's stdio,
 * through the official SDK. berth advertises no fs/terminal capabilities: the harness
 * acts with its own tools inside its sandbox, never through berth's host.
 */
export class AcpAgentConnection {
  private conn: acp.ClientConnection;
  private stderrTail = "";
  init?: acp.InitializeResponse;

  constructor(
    readonly proc: SandboxProcess,
    handlers: AcpHandlers,
  ) {
    proc.stderr.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-4000);
    });
    const stream = acp.ndJsonStream(
      Writable.toWeb(proc.stdin) as WritableStream<Uint8Array>,
      Readable.toWeb(proc.stdout) as unknown as ReadableStream<Uint8Array>,
    );
    const app = acp
      .client({ name: "berth" })
      .onNotification(acp.methods.client.session.update, ({ params }) => {
        handlers.onUpdate(params.sessionId, params.update);
      })
      .onRequest(acp.methods.client.session.requestPermission, ({ params, signal }) =>
        handlers.onPermission(params, signal),
      );
    this.conn = app.connect(stream);
  }

  get closed(): Promise<void> {
    return this.conn.closed;
  }

  /** The last few KB the harness wrote to stderr (for error messages; callers redact). */
  get stderr(): string {
    return this.stderrTail;
  }

  async initialize(): Promise<acp.InitializeResponse> {
    this.init = await this.conn.agent.request(acp.methods.agent.initialize, {
      protocolVersion: acp.PROTOCOL_VERSION,
      // notices: agents then send warnings (e.g. "unknown model metadata") as notices
      // instead of writing them into the assistant's message text.
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false, session: { notices: {} } },
      clientInfo: { name: "berth", version: "0.1.0" },
    });
    return this.init;
  }

  newSession(cwd: string, mcpServers: acp.McpServer[]): Promise<acp.NewSessionResponse> {
    return this.conn.agent.request(acp.methods.agent.session.new, { cwd, mcpServers });
  }

  async loadSession(sessionId: string, cwd: string, mcpServers: acp.McpServer[]): Promise<void> {
    await this.conn.agent.request(acp.methods.agent.session.load, { sessionId, cwd, mcpServers });
  }

  /** ACP session/fork (unstable): a new session of the agent's own, carrying `sessionId`'s conversation. */
  async forkSession(sessionId: string, cwd: string, mcpServers: acp.McpServer[]): Promise<string> {
    // Not in the SDK's stable method map yet: sent as the spec names it.
    const request = this.conn.agent.request as unknown as (method: string, params: unknown) => Promise<{ sessionId: string }>;
    const r = await request.call(this.conn.agent, "session/fork", { sessionId, cwd, mcpServers });
    return r.sessionId;
  }

  prompt(sessionId: string, prompt: acp.ContentBlock[]): Promise<acp.PromptResponse> {
    return this.conn.agent.request(acp.methods.agent.session.prompt, { sessionId, prompt });
  }

  cancel(sessionId: string): Promise<void> {
    return this.conn.agent.notify(acp.methods.agent.session.cancel, { sessionId });
  }

  close(): void {
    this.conn.close();
  }
}
