import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InitializeResponse, NewSessionResponse } from "@agentclientprotocol/sdk";

/** What a harness told berth about itself over ACP: recorded beside its install. */
export interface HarnessCapabilities {
  agentInfo: unknown;
  protocolVersion: number;
  loadSession: boolean;
  mcp: { stdio: true; http: boolean; sse: boolean };
  prompt: { image: boolean; audio: boolean; embeddedContext: boolean };
  authMethods: { id: string; name?: string }[];
  modes: { id: string; name?: string }[] | null;
  recordedAt: string;
}

const FILE = ".berth-capabilities.json";

export function capabilitiesFrom(init: InitializeResponse, session?: NewSessionResponse): HarnessCapabilities {
  const c = init.agentCapabilities ?? {};
  return {
    agentInfo: init.agentInfo ?? null,
    protocolVersion: init.protocolVersion,
    loadSession: Boolean(c.loadSession),
    mcp: { stdio: true, http: Boolean(c.mcpCapabilities?.http), sse: Boolean(c.mcpCapabilities?.sse) },
    prompt: {
      image: Boolean(c.promptCapabilities?.image),
      audio: Boolean(c.promptCapabilities?.audio),
      embeddedContext: Boolean(c.promptCapabilities?.embeddedContext),
    },
    authMethods: (init.authMethods ?? []).map((m: any) => ({ id: m.id, name: m.name })),
    modes: session?.modes?.availableModes?.map((m) => ({ id: m.id, name: m.name })) ?? null,
    recordedAt: new Date().toISOString(),
  };
}

export function readCapabilities(installDir: string | undefined): HarnessCapabilities | null {
  if (!installDir) return null;
  try {
    return JSON.parse(readFileSync(join(installDir, FILE), "utf8")) as HarnessCapabilities;
  } catch {
    return null;
  }
}

/** Records capabilities the first time a harness version is seen (and when they change). */
export function recordCapabilities(installDir: string, caps: HarnessCapabilities): void {
  const prev = readCapabilities(installDir);
  const same = prev && JSON.stringify({ ...prev, recordedAt: "" }) === JSON.stringify({ ...caps, recordedAt: "" });
  if (!same || !existsSync(join(installDir, FILE))) writeFileSync(join(installDir, FILE), JSON.stringify(caps, null, 2));
}
