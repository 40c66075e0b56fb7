// What every image input becomes: files (whiteouts applied, content on demand) and a config.
import type { TarHeader } from "./tar.js";
import { posix } from "node:path";

/** A file as a tar header describes it, under its absolute path. */
export interface ImageFile extends Omit<TarHeader, "name"> {
  /** Absolute path inside the image: "/etc/passwd". */
  path: string;
  /** Layer label ("3/7 sha256:0123456789ab") for image archives. */
  layer?: string;
  /** Set when the file is not in the final filesystem: a newer layer deleted or replaced it. */
  shadowed?: "deleted" | "replaced";
  /** The content in chunks (at most once; regular files only). */
  content(): AsyncIterable<Buffer>;
}

/** The parts of an OCI/Docker image config berth checks. */
export interface ImageConfig {
  config?: {
    User?: string;
    Env?: string[] | null;
    Labels?: Record<string, string> | null;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
  };
  history?: { created_by?: string; comment?: string; empty_layer?: boolean }[];
}

export type InputKind = "directory" | "rootfs-tar" | "image-archive" | "image";

export interface ImageInput {
  kind: InputKind;
  /** What was read, for the report. */
  describe: string;
  config?: ImageConfig;
  layers: number;
  /** Notes about the input itself (e.g. several images in one archive). */
  notes: string[];
  /** Visits every file; `visit` may read the content. Problems reading parts go to `problem`. */
  walk(visit: (f: ImageFile) => Promise<void>, problem: (path: string, message: string) => void): Promise<void>;
  close(): Promise<void>;
}

export class ImageInputError extends Error {}

/** "./usr/bin/", "usr/bin", "/usr//bin" → "/usr/bin". */
export function normPath(name: string): string {
  const p = posix.normalize("/" + name.replace(/^(?:\.\/)+/, ""));
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

export type Severity = "error" | "warning" | "info";
export type Rule = "proprietary-harness" | "credential" | "baked-login" | "root-user" | "sudoers" | "secret-env" | "incomplete";

export interface ImageFinding {
  severity: Severity;
  rule: Rule;
  /** A path in the image, or `config:<field>` for the image config. */
  path: string;
  line?: number;
  /** For image archives: which layer ("3/7 sha256:…"). */
  layer?: string;
  detail: string;
  /** Credentials: the shape (anthropic-key, private-key, ...). */
  kind?: string;
  /** Credentials: the scanner's fingerprint (for an allowlist). */
  fingerprint?: string;
}
