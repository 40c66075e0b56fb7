import type { components, operations } from "./schema.js";

// The SDK's types are the server's: generated from its OpenAPI document (schema.ts), which
// the server generates from the zod schemas it validates with. One source.
type Schemas = components["schemas"];

export type SessionInfo = Schemas["Session"];
export type SessionState = SessionInfo["state"];
export type Turn = Schemas["Turn"];
export type Harness = Schemas["Harness"];
export type CreateSessionRequest = Schemas["CreateSessionRequest"];
export type PostTurnRequest = Schemas["PostTurnRequest"];
export type PermissionAnswer = Schemas["PermissionAnswer"];
export type ResumeRequest = Schemas["ResumeRequest"];
export type ErrorCode = Schemas["Error"]["error"]["code"];

/** One event of a session's log: a union on `type`, so `data` is typed once `type` is checked. */
export type BerthEvent = Schemas["Event"];
export type EventType = BerthEvent["type"];
export type EventOf<T extends EventType> = Extract<BerthEvent, { type: T }>;
export type EventPage = Schemas["EventPage"];
export type Provider = Schemas["Provider"];
export type ConformanceReport = Schemas["ConformanceReport"];
export type TurnDiff = Schemas["TurnDiff"];
export type FileEntry = Schemas["FileEntry"];
export type WorkspaceSource = Schemas["WorkspaceSource"];
type Ok<Op extends keyof operations, Code extends keyof operations[Op]["responses"]> = operations[Op]["responses"][Code] extends { content: { "application/json": infer T } } ? T : never;
export type FileList = Ok<"listFiles", 200>;
export type FileWritten = Ok<"writeFile", 201>;
export type ArchiveUploaded = Ok<"uploadArchive", 200>;
