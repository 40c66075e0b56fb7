// The secrets allowlist (.berth-secrets-allow.yaml): findings a project has vetted.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { SecretFinding } from "./chunk-scanner.js";

const AllowEntrySchema = z
  .object({
    /** A glob on the finding's path (relative to the repository root): `*`, `**`, `?`, `{a,b}`. */
    path: z.string().min(1).optional(),
    /** `fingerprint` of one exact secret value, as printed by the scanner. */
    fingerprint: z.string().regex(/^[0-9a-f]{16}$/, "a 16-hex-digit fingerprint as printed by the scanner").optional(),
    kind: z.string().min(1).optional(),
    reason: z.string().min(3, "every allowlist entry needs a reason"),
  })
  .strict()
  .refine((e) => e.path !== undefined || e.fingerprint !== undefined, "an entry needs a path glob or a fingerprint (or both)");
const AllowFileSchema = z.object({ allow: z.array(AllowEntrySchema).default([]) }).strict();
export type AllowEntry = z.infer<typeof AllowEntrySchema>;

export const ALLOWLIST_FILE = ".berth-secrets-allow.yaml";

/** Glob → RegExp: `**` any depth, `*` and `?` within a path segment, `{a,b}` alternatives. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      re += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "{") re += "(?:";
    else if (c === "}") re += ")";
    else if (c === "," && re.lastIndexOf("(?:") > re.lastIndexOf(")")) re += "|";
    else re += c.replace(/[.+^$()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export class Allowlist {
  private compiled: { entry: AllowEntry; path?: RegExp; used: number }[];

  constructor(
    entries: AllowEntry[] = [],
    /** Where the entries came from (for messages). */
    readonly source?: string,
  ) {
    this.compiled = entries.map((entry) => ({ entry, path: entry.path ? globToRegExp(entry.path) : undefined, used: 0 }));
  }

  static load(file: string): Allowlist {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(file, "utf8")) ?? {};
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    const r = AllowFileSchema.safeParse(raw);
    if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
    return new Allowlist(r.data.allow, file);
  }

  /** The entry that allows this finding, if any (all of an entry's fields must match). */
  match(f: Pick<SecretFinding, "path" | "fingerprint" | "kind">): AllowEntry | undefined {
    const path = f.path.replace(/^\/+/, "");
    for (const c of this.compiled) {
      if (c.path && !c.path.test(path)) continue;
      if (c.entry.fingerprint && c.entry.fingerprint !== f.fingerprint) continue;
      if (c.entry.kind && c.entry.kind !== f.kind) continue;
      c.used++;
      return c.entry;
    }
    return undefined;
  }

  /** Entries that matched nothing in this run: stale, or too narrow. */
  unused(): AllowEntry[] {
    return this.compiled.filter((c) => c.used === 0).map((c) => c.entry);
  }
}
