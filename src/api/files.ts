import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import * as tar from "tar-stream";
import { z } from "zod";
import { normalizeArchive } from "../files/archive.js";
import { ContainerWorkspaceFiles } from "../files/container.js";
import { LocalWorkspaceFiles } from "../files/local.js";
import { protectedPath, workspacePath } from "../files/paths.js";
import type { WorkspaceFiles } from "../files/types.js";
import type { OciDriver } from "../sandboxes/oci.js";
import { AGENT_GID, AGENT_UID } from "../sandboxes/types.js";
import type { SessionManager } from "../sessions/manager.js";
import { byteLimit } from "../util/limits.js";
import { BerthError, conflict } from "../util/errors.js";
import { ErrorBody, SessionParams } from "./schemas.js";

// The files API: list, ranged read, write, archive upload and download of a session's
// workspace, for every tier. Each operation runs from the sandbox's point of view (files/):
// a running container through the engine, anything else in a throwaway bubblewrap view of
// the workspace alone. Writes wait for no turn: they are refused while one runs.

export interface FilesDeps {
  manager: SessionManager;
  /** Where uploads are spooled and checked before they reach a workspace (berth's, 0700). */
  tmpDir: string;
  maxUploadBytes: number;
  maxUploadEntries: number;
}

export const FileEntry = z
  .object({
    name: z.string(),
    type: z.enum(["file", "directory", "symlink", "other"]),
    size: z.number().int(),
    mtime: z.string(),
    mode: z.number().int().describe("Permission bits (0o644 is 420)"),
  })
  .meta({ id: "FileEntry" });

const PathQuery = z.object({ path: z.string().max(4096).optional().describe("Relative to the workspace root; empty or absent: the root") });
const ListQuery = PathQuery.extend({ limit: z.coerce.number().int().min(1).max(10_000).optional() });

/** The media types an upload may come as; the body is streamed, never parsed. */
export const UPLOAD_TYPES = ["application/octet-stream", "application/x-tar", "application/gzip", "application/x-gzip"];

const notFound = { 404: ErrorBody.describe("No such session, or no such path in its workspace") };
const refused = { 409: ErrorBody.describe("A turn is running (writes only), or the session has ended") };
const tooLarge = {
  413: ErrorBody.describe("Over BERTH_MAX_UPLOAD_BYTES or BERTH_MAX_UPLOAD_ENTRIES"),
  415: ErrorBody.describe("The body is not sent as an upload (application/octet-stream, application/x-tar, application/gzip)"),
};

/**
 * The request's body as the stream an upload is. Another media type (JSON, text) was parsed
 * by Fastify into something else: refused, naming the types an upload is sent as.
 */
function uploadBody(req: FastifyRequest): Readable {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (!UPLOAD_TYPES.includes(type) || !(req.body instanceof Readable))
    throw new BerthError(415, "unsupported_media_type", `send the upload as one of ${UPLOAD_TYPES.join(", ")}, not ${type || "no content-type"}`);
  return req.body;
}

/** `Range: bytes=a-b` or `bytes=a-`; undefined for none (or a form not served: the whole file then). */
function parseRange(h: string | undefined): { offset: number; length?: number } | undefined {
  const m = /^bytes=(\d{1,15})-(\d{1,15})?$/.exec(h?.trim() ?? "");
  if (!m) return undefined;
  const offset = Number(m[1]);
  if (m[2] === undefined) return { offset };
  const end = Number(m[2]);
  if (end < offset) throw new BerthError(416, "invalid_range", `Range ${h} ends before it starts`);
  return { offset, length: end - offset + 1 };
}

export function registerFileRoutes(app: FastifyInstance, d: FilesDeps): void {
  mkdirSync(d.tmpDir, { recursive: true, mode: 0o700 });
  // Upload bodies stay streams: the routes below count and check them as they arrive.
  app.addContentTypeParser(UPLOAD_TYPES, (_req, payload, done) => done(null, payload));
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tmp = (what: string) => join(d.tmpDir, `${what}-${randomUUID()}`);

  /** The session's workspace, as the files API reaches it now; `write` also asks that no turn runs. */
  const access = async (id: string, write: boolean): Promise<{ files: WorkspaceFiles; writable: string[] }> => {
    const { row, driver, proc, runningTurn } = await d.manager.workspaceOf(id);
    if (row.state === "ended") throw conflict("session_ended", `session ${id} has ended; its workspace is no longer berth's to read or write`);
    if (write && runningTurn)
      throw conflict(
        "turn_running",
        `turn ${runningTurn} is running: the agent is editing this workspace, and a write now would race its edits and blur the turn's diff; wait for turn.ended, or cancel the turn`,
      );
    const writable = row.settings.writablePaths ?? [];
    if (driver?.name === "oci" && proc?.ref) return { files: new ContainerWorkspaceFiles(await (driver as OciDriver).client(), proc.ref), writable };
    return { files: new LocalWorkspaceFiles(row.workspace), writable };
  };
  const assertNotProtected = (rel: string, writable: string[]) => {
    const p = protectedPath(rel, writable);
    if (p)
      throw new BerthError(403, "protected_path", `${rel} is (or holds) ${p}, which runs code outside the agent's turn; it is read-only unless the session lists it in writablePaths`);
  };

  r.get(
    "/sessions/:id/files",
    {
      schema: {
        operationId: "listFiles",
        summary: "List a directory of the session's workspace",
        tags: ["files"],
        params: SessionParams,
        querystring: ListQuery,
        response: {
          200: z.object({ path: z.string(), entries: z.array(FileEntry), truncated: z.boolean().describe("More entries than limit (default 1000)") }).describe("The directory's entries, by name"),
          ...notFound,
          ...refused,
        },
      },
    },
    async (req) => {
      const rel = workspacePath(req.query.path);
      const { files } = await access(req.params.id, false);
      return { path: rel, ...(await files.list(rel, req.query.limit ?? 1000)) };
    },
  );

  r.get(
    "/sessions/:id/files/content",
    {
      schema: {
        operationId: "readFile",
        summary: "Read a file of the session's workspace (Range: bytes=a-b for part of it)",
        tags: ["files"],
        params: SessionParams,
        querystring: PathQuery,
        response: { ...notFound, ...refused, 416: ErrorBody.describe("The range starts past the file's end") },
      },
    },
    async (req, reply) => {
      const rel = workspacePath(req.query.path);
      if (rel === "") throw new BerthError(400, "is_a_directory", "path names the workspace root; list it, or download it as an archive");
      const range = parseRange(req.headers.range);
      const { files } = await access(req.params.id, false);
      const { size, body } = await files.read(rel, range?.offset ?? 0, range?.length);
      reply.header("accept-ranges", "bytes").header("content-type", "application/octet-stream");
      if (!range) return reply.code(200).header("content-length", size).send(body as never);
      if (range.offset >= size && size > 0) {
        body.destroy();
        reply.header("content-range", `bytes */${size}`);
        throw new BerthError(416, "invalid_range", `the range starts at byte ${range.offset}, past the end of the ${size}-byte file`);
      }
      const last = Math.min(size, range.offset + (range.length ?? size)) - 1;
      return reply
        .code(206)
        .header("content-range", `bytes ${range.offset}-${last}/${size}`)
        .header("content-length", Math.max(0, last - range.offset + 1))
        .send(body as never);
    },
  );

  r.put(
    "/sessions/:id/files/content",
    {
      schema: {
        operationId: "writeFile",
        summary: "Write a file into the session's workspace (created, or replaced; parent directories made)",
        tags: ["files"],
        params: SessionParams,
        querystring: PathQuery,
        response: { 201: z.object({ path: z.string(), size: z.number().int() }).describe("The file written"), 403: ErrorBody.describe("A protected path"), ...notFound, ...refused, ...tooLarge },
      },
    },
    async (req, reply) => {
      const rel = workspacePath(req.query.path);
      if (rel === "") throw new BerthError(400, "is_a_directory", "path names the workspace root; name a file");
      const { files, writable } = await access(req.params.id, true);
      assertNotProtected(rel, writable);
      const body = tmp("body");
      const packed = tmp("file.tar");
      try {
        await pipeline(uploadBody(req), byteLimit(d.maxUploadBytes, () => new BerthError(413, "upload_too_large", `the upload is larger than ${d.maxUploadBytes} bytes (BERTH_MAX_UPLOAD_BYTES)`)), createWriteStream(body, { mode: 0o600 }));
        const size = statSync(body).size;
        // One entry, the agent's own: extracted like any archive, inside the sandbox's view.
        const pack = tar.pack();
        const writing = pipeline(pack, createWriteStream(packed, { mode: 0o600 }));
        await pipeline(createReadStream(body), pack.entry({ name: posix.basename(rel), size, mode: 0o644, uid: AGENT_UID, gid: AGENT_GID, mtime: new Date() }));
        pack.finalize();
        await writing;
        await files.extract(packed, posix.dirname(rel) === "." ? "" : posix.dirname(rel));
        return reply.code(201).send({ path: rel, size });
      } finally {
        rmSync(body, { force: true });
        rmSync(packed, { force: true });
      }
    },
  );

  r.get(
    "/sessions/:id/files/archive",
    {
      schema: {
        operationId: "downloadArchive",
        summary: "Download a directory of the session's workspace (the root by default) as a tar stream",
        tags: ["files"],
        params: SessionParams,
        querystring: PathQuery,
        response: { ...notFound, ...refused },
      },
    },
    async (req, reply) => {
      const rel = workspacePath(req.query.path);
      const { files } = await access(req.params.id, false);
      const stream = await files.archive(rel);
      const name = (rel === "" ? req.params.id : posix.basename(rel)).replace(/[^A-Za-z0-9._-]/g, "_");
      return reply.header("content-type", "application/x-tar").header("content-disposition", `attachment; filename="${name}.tar"`).send(stream as never);
    },
  );

  r.put(
    "/sessions/:id/files/archive",
    {
      schema: {
        operationId: "uploadArchive",
        summary: "Upload a tar or tar.gz into a directory of the session's workspace (the root by default)",
        description:
          "The archive is checked whole before anything is written: absolute names, `..`, links that leave the tree (or pass through another link of the archive), devices and FIFOs are refused with `unsafe_archive`. Files become the agent's (uid 1000), without setuid bits.",
        tags: ["files"],
        params: SessionParams,
        querystring: PathQuery,
        response: {
          200: z.object({ path: z.string(), entries: z.number().int(), bytes: z.number().int() }).describe("What was extracted"),
          403: ErrorBody.describe("An entry is a protected path"),
          ...notFound,
          ...refused,
          ...tooLarge,
        },
      },
    },
    async (req) => {
      const rel = workspacePath(req.query.path);
      const { files, writable } = await access(req.params.id, true);
      assertNotProtected(rel, writable);
      const packed = tmp("upload.tar");
      try {
        const a = await normalizeArchive(uploadBody(req), packed, {
          maxBytes: d.maxUploadBytes,
          maxEntries: d.maxUploadEntries,
          checkName: (name) => assertNotProtected(rel === "" ? name : `${rel}/${name}`, writable),
        });
        await files.extract(packed, rel);
        // A session created with workspace {upload: true} starts its harness now.
        await d.manager.seeded(req.params.id, "upload");
        return { path: rel, entries: a.entries, bytes: a.bytes };
      } finally {
        rmSync(packed, { force: true });
      }
    },
  );
}
