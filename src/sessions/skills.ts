import { cpSync, existsSync, lstatSync, mkdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { workspacePath } from "../files/paths.js";
import { badRequest } from "../util/errors.js";

// Agent Skills (folders with a SKILL.md) for a session: named from the operator's skills
// directory (BERTH_SKILLS_DIR) or uploaded inline with the create request. berth copies
// them into the session's own directory and the sandbox mounts that read-only where the
// harness reads its user's skills (HarnessSpec.skillsDir), so the agent can use them and
// cannot change them.

const SKILL_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** Per session: every uploaded skill's files together. */
export const MAX_UPLOADED_SKILL_BYTES = 1024 * 1024;
const MAX_SKILL_FILES = 200;

export const SkillSpec = z
  .union([
    z.string().regex(SKILL_NAME).max(64).describe("A skill in the operator's skills directory (BERTH_SKILLS_DIR), by its folder name"),
    z
      .object({
        name: z.string().regex(SKILL_NAME).max(64),
        files: z.record(z.string().min(1).max(1024), z.string()).describe("Relative path → UTF-8 content; must hold SKILL.md"),
      })
      .strict()
      .describe("A skill uploaded with the request"),
  ])
  .meta({ id: "Skill" });
export type SkillInput = z.infer<typeof SkillSpec>;

/** What a session records of its skills (never their content: that is in its directory). */
export type SkillRecord = { name: string; source: "operator" | "upload" };

/** Checks a create request's skills before anything starts; returns what the session records. */
export function checkSkills(skills: SkillInput[] | undefined, opts: { harness: string; skillsDir?: string; operatorDir?: string }): SkillRecord[] {
  if (!skills?.length) return [];
  if (!opts.skillsDir) throw badRequest("skills_unsupported", `harness '${opts.harness}' reads no Agent Skills; the README says which harnesses do`);
  const names = new Set<string>();
  let bytes = 0;
  return skills.map((s) => {
    const name = typeof s === "string" ? s : s.name;
    if (names.has(name)) throw badRequest("invalid_skill", `skill '${name}' is named twice`);
    names.add(name);
    if (typeof s === "string") {
      if (!opts.operatorDir) throw badRequest("invalid_skill", `skill '${name}' names the operator's skills directory, and this server has none (BERTH_SKILLS_DIR)`);
      const dir = join(opts.operatorDir, name);
      if (!existsSync(join(dir, "SKILL.md"))) throw badRequest("invalid_skill", `the operator's skills directory has no skill '${name}' (no ${name}/SKILL.md)`);
      return { name, source: "operator" };
    }
    const paths = Object.keys(s.files);
    if (paths.length > MAX_SKILL_FILES) throw badRequest("invalid_skill", `skill '${name}' has more than ${MAX_SKILL_FILES} files`);
    for (const p of paths) if (workspacePath(p, `skill '${name}' file`) !== p) throw badRequest("invalid_skill", `skill '${name}' file ${JSON.stringify(p)} must be a plain relative path (no ./, //, trailing /)`);
    if (!paths.includes("SKILL.md")) throw badRequest("invalid_skill", `skill '${name}' has no SKILL.md`);
    for (const c of Object.values(s.files)) bytes += Buffer.byteLength(c);
    if (bytes > MAX_UPLOADED_SKILL_BYTES) throw badRequest("invalid_skill", `the uploaded skills hold more than ${MAX_UPLOADED_SKILL_BYTES} bytes`);
    return { name, source: "upload" };
  });
}

/**
 * Writes the session's skills into `dest` (berth's, readable by the agent's uid: 0755 and
 * 0644), from the request and the operator's directory; returns `dest`, or undefined for none.
 */
export function materializeSkills(skills: SkillInput[] | undefined, dest: string, operatorDir?: string): string | undefined {
  if (!skills?.length) return undefined;
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  for (const s of skills) {
    if (typeof s === "string") {
      const src = realpathSync(join(operatorDir!, s));
      if (!statSync(src).isDirectory()) throw badRequest("invalid_skill", `skill '${s}' in the operator's skills directory is not a folder`);
      // The operator's own tree: copied as it is, links as links.
      cpSync(src, join(dest, s), { recursive: true, verbatimSymlinks: true });
      continue;
    }
    for (const [rel, content] of Object.entries(s.files)) {
      const file = join(dest, s.name, rel);
      mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
      if (existsSync(file) && lstatSync(file).isDirectory()) throw badRequest("invalid_skill", `skill '${s.name}' has both a file and a folder at ${rel}`);
      writeFileSync(file, content, { mode: 0o644 });
    }
  }
  return dest;
}
