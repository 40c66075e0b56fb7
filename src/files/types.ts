import type { Readable } from "node:stream";

/** One directory entry, as the files API lists it. */
export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  /** ISO 8601. */
  mtime: string;
  /** Permission bits, e.g. 0o644. */
  mode: number;
}

export interface FileRead {
  /** The whole file's size, whatever the range. */
  size: number;
  body: Readable;
}

/**
 * A session's workspace as the files API reaches it, always from the sandbox's point of
 * view: paths are normalised workspace paths (files/paths.ts), resolved inside, and refused
 * when they lead out of the workspace. One implementation runs each operation in a throwaway
 * bubblewrap view of the workspace alone (files/local.ts); the other goes through the
 * container engine into the session's running container (files/container.ts).
 */
export interface WorkspaceFiles {
  list(rel: string, limit: number): Promise<{ entries: FileEntry[]; truncated: boolean }>;
  /** `length` absent: to the end. */
  read(rel: string, offset: number, length?: number): Promise<FileRead>;
  /** Extracts a checked tar (files/archive.ts) into the directory `rel`, creating it. */
  extract(tarFile: string, rel: string): Promise<void>;
  /** The directory `rel` as a tar stream, its entries relative to it. */
  archive(rel: string): Promise<Readable>;
}
