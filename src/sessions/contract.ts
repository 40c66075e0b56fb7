// The session contract: what a caller sends to create and drive a session, and what it gets
// back. These zod schemas are the one source: the API validates with them and publishes them
// in /openapi.json, and the TypeScript types here (and the client's) are inferred from them.
import { z } from "zod";
import { SkillSpec } from "./skills.js";
import { SESSION_STATES, TURN_STATES } from "../events/types.js";
import { PROTECTED_WORKSPACE_PATHS, TIERS } from "../sandboxes/types.js";

/** How a session answers its harness's permission requests; the one list the API, CLI and store use. */
export const PERMISSION_POLICIES = ["allow", "deny", "ask"] as const;
export type PermissionPolicy = (typeof PERMISSION_POLICIES)[number];

const McpServer = z
  .object({ name: z.string().min(1) })
  .catchall(z.unknown())
  .describe("An ACP McpServer (stdio: command/args/env; http/sse: type/url/headers), passed to session/new as is");

const Secrets = z
  .record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string().min(1).max(20_000))
  .describe("Per-session secrets by name (e.g. ANTHROPIC_API_KEY): held in memory, never stored or echoed");

export const Budget = z
  .object({
    maxTokens: z.number().int().positive().optional().describe("Tokens the provider reports (input, cached included, + output) over the session's life"),
    maxCostUsd: z.number().positive().optional().describe("USD over the session's life, priced from the provider registry (the model needs a price)"),
  })
  .strict();

export const Deadlines = z
  .object({
    turnMs: z.number().int().min(1000).optional().describe("Most active time a turn may run"),
    idleMs: z.number().int().min(1000).optional().describe("Most active time a turn may go without an event"),
    firstEventMs: z.number().int().min(1000).optional().describe("Most active time from a turn's start to its first event"),
  })
  .strict()
  .describe(
    "Turn deadlines in ms; time waiting for a permission answer is not counted. A turn past one is cancelled and ends with stop reason turn_timeout, idle_timeout or first_event_timeout. The server's values (BERTH_TURN_*TIMEOUT_MS) are the defaults and the ceilings.",
  );

export const GitSource = z
  .object({
    url: z.string().min(1).max(2000).describe("http(s) URL of the repository, with no credentials in it (git.hosts and the operator's git credentials file supply them)"),
    ref: z.string().min(1).max(250).optional().describe("Branch, tag or full commit id; default: the remote's default branch"),
    depth: z.number().int().min(1).max(1_000_000).optional().describe("Shallow clone of this many commits"),
  })
  .strict()
  .meta({ id: "GitSource" });

export const WorkspaceSource = z
  .union([
    z.string().describe("Absolute host path of an existing directory inside an operator-approved root (BERTH_WORKSPACE_ROOTS)"),
    z.object({ path: z.string().describe("As the plain string form") }).strict(),
    z.object({ git: GitSource }).strict().describe("A fresh workspace, cloned by berth in the session's sandbox before the harness starts"),
    z
      .object({ upload: z.literal(true) })
      .strict()
      .describe("A fresh workspace seeded by an archive: the session waits (starting) for PUT /v1/sessions/{id}/files/archive, then starts its harness"),
  ])
  .meta({ id: "WorkspaceSource" });

export const CreateSessionRequest = z
  .object({
    harness: z.string().min(1).describe("Harness id, e.g. pi"),
    model: z.string().min(1).optional().describe("Model id; defaults to the server's default model"),
    tier: z.string().optional().describe("host|process|container|privileged|host-access or t0..t4; default process"),
    workspace: WorkspaceSource.optional().describe("Where the workspace comes from; default a fresh, empty one"),
    systemPrompt: z.string().max(200_000).optional().describe("Extra instructions (written as the harness's AGENTS.md equivalent)"),
    mcpServers: z.array(McpServer).max(50).optional(),
    permissionPolicy: z.enum(PERMISSION_POLICIES).optional(),
    permissionTimeoutMs: z.number().int().min(100).max(24 * 3600_000).optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    writablePaths: z
      .array(z.enum(PROTECTED_WORKSPACE_PATHS as unknown as [string, ...string[]]))
      .optional()
      .describe("Protected workspace paths (git hooks and config, shell rc files) the agent may write"),
    provider: z.string().min(1).max(100).optional().describe("Provider id to route the model through (e.g. anthropic-oauth); default: first match"),
    secrets: Secrets.optional(),
    network: z
      .object({
        allow: z.array(z.string().min(1).max(260)).max(200).optional(),
        allowPrivateAddresses: z.boolean().optional().describe("Let allowed names resolve to private/loopback addresses (cloud metadata stays refused)"),
      })
      .strict()
      .optional()
      .describe("Egress allowlist: exact hosts or *.suffix, optional :port; everything else is refused"),
    git: z
      .object({
        hosts: z.array(z.string().min(1).max(260)).max(100).optional().describe('Hosts (e.g. "github.com", "git.example.com:8443") berth may answer git credential requests for'),
      })
      .strict()
      .optional()
      .describe("Git credentials through the sandbox's git-credential-berth helper (docs/git-credentials.md); default: no host"),
    skills: z
      .array(SkillSpec)
      .max(50)
      .optional()
      .describe("Agent Skills, mounted read-only where the harness reads its user's skills (README: which harnesses read them, and where)"),
    budget: Budget.optional().describe("Spending limits; once one is reached berth refuses the session's further model calls and turns"),
    deadlines: Deadlines.optional(),
  })
  .strict()
  .meta({ id: "CreateSessionRequest" });

export const ForkRequest = z
  .object({
    atTurn: z.string().min(1).max(100).optional().describe("Fork as of this turn's end (its workspace and the conversation up to it); default: the last ended turn"),
    secrets: Secrets.optional(),
    metadata: z.record(z.string(), z.string()).optional().describe("Default: the source session's"),
  })
  .strict()
  .meta({ id: "ForkRequest" });

export const ResumeRequest = z.object({ secrets: Secrets.optional() }).strict().meta({ id: "ResumeRequest" });

export const SessionView = z.object({
  id: z.string(),
  harness: z.string(),
  harnessVersion: z.string(),
  model: z.string(),
  tier: z.enum(TIERS),
  workspace: z.string(),
  state: z.enum(SESSION_STATES),
  acpSessionId: z.string().nullable(),
  error: z.string().nullable(),
  permissionPolicy: z.enum(PERMISSION_POLICIES),
  metadata: z.record(z.string(), z.string()).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  lastSeq: z.number().int(),
  provider: z.string().optional().describe("The provider route its model resolved to"),
  turns: z.number().int().describe("Turns posted so far"),
  waitingForPermission: z.number().int().describe("Permission requests waiting for an answer now (policy ask)"),
  spent: z.object({ tokens: z.number(), costUsd: z.number() }).describe("Tokens and USD its model calls used so far (cost only where the model has a price)"),
  budget: Budget.extend({ spent: z.object({ tokens: z.number(), costUsd: z.number() }) }).optional(),
  deadlines: z.object({ turnMs: z.number().optional(), idleMs: z.number().optional(), firstEventMs: z.number().optional() }).optional().describe("The session's effective turn deadlines (ms)"),
  pool: z
    .object({ outcome: z.enum(["hit", "miss"]), pool: z.string().optional(), reason: z.string().optional() })
    .optional()
    .describe("Whether a warm pool served the session's start (hit), or why it started cold (miss and reason); absent when the server has no pool for its harness and tier"),
}).meta({ id: "Session" });

export const ContentBlock = z.object({ type: z.string() }).catchall(z.unknown());

export const PostTurnRequest = z
  .object({
    prompt: z.union([z.string().min(1), z.array(ContentBlock).min(1)]).describe("Text, or ACP content blocks"),
    idempotencyKey: z.string().min(1).max(200).optional().describe("Also accepted as the Idempotency-Key header"),
  })
  .strict()
  .meta({ id: "PostTurnRequest" });

export const TurnView = z.object({
  id: z.string(),
  sessionId: z.string(),
  idx: z.number().int(),
  prompt: z.array(ContentBlock).describe("What was asked, as ACP content blocks (text is {type: 'text', text})"),
  state: z.enum(TURN_STATES),
  idempotencyKey: z.string().nullable(),
  stopReason: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
}).meta({ id: "Turn" });

export const PermissionAnswerRequest = z
  .object({
    optionId: z.string().min(1).optional(),
    decision: z.enum(["allow", "deny"]).optional(),
  })
  .strict()
  .refine((b) => (b.optionId === undefined) !== (b.decision === undefined), {
    message: "give exactly one of optionId or decision",
  })
  .meta({ id: "PermissionAnswer" });

export type CreateSessionInput = z.infer<typeof CreateSessionRequest>;
export type ResumeInput = z.infer<typeof ResumeRequest>;
export type ForkInput = z.infer<typeof ForkRequest>;
export type PermissionAnswer = z.infer<typeof PermissionAnswerRequest>;
export type SessionView = z.infer<typeof SessionView>;
export type TurnView = z.infer<typeof TurnView>;
