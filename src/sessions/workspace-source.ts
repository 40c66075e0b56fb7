import { matchRules, parsePolicy } from "../sandboxes/egress/policy.js";
import { badRequest } from "../util/errors.js";
import type { CreateSessionInput } from "./contract.js";
import type { SessionSettings } from "./types.js";

// A fresh workspace seeded from git: the request is checked here (the URL cannot smuggle a
// credential, another protocol, or a host the session's network policy refuses), and the
// clone runs as the session's own sandbox would, before its harness starts (launch.ts): as
// uid 1000, through the session's egress proxy, with git-credential-berth asking berth's
// git credential service for any credential. No token is ever in the request.

export type GitSeed = { url: string; ref?: string; depth?: number };

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** A create request's `workspace`: a caller's host path to check, or how a fresh one is seeded (checked here). */
export function workspaceSource(
  source: CreateSessionInput["workspace"],
  settings: Pick<SessionSettings, "egressAllow">,
): { hostPath?: string; seed?: SessionSettings["seed"] } {
  if (source === undefined) return {};
  if (typeof source === "string") return { hostPath: source };
  if ("path" in source) return { hostPath: source.path };
  if ("git" in source) return { seed: { git: checkGitSeed(source.git, settings) } };
  return { seed: { upload: true } };
}

/** The source as checked: throws a 400 naming what is wrong. */
export function checkGitSeed(src: GitSeed, settings: Pick<SessionSettings, "egressAllow">): GitSeed {
  let u: URL;
  try {
    u = new URL(src.url);
  } catch {
    throw badRequest("invalid_git_source", `workspace.git.url is not a URL: ${JSON.stringify(src.url.slice(0, 200))}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    throw badRequest("invalid_git_source", `workspace.git.url must be http:// or https:// (not ${u.protocol}); other transports (ssh, file, ext) are refused`);
  if (u.username || u.password)
    throw badRequest("invalid_git_source", "workspace.git.url must not carry credentials; list the host in git.hosts and have the operator configure it in the git credentials file");
  if (/\s/.test(src.url)) throw badRequest("invalid_git_source", "workspace.git.url must not contain whitespace");
  if (src.ref !== undefined && (!/^[A-Za-z0-9._/-]+$/.test(src.ref) || src.ref.startsWith("-") || src.ref.includes("..")))
    throw badRequest("invalid_git_source", `workspace.git.ref ${JSON.stringify(src.ref)} is not a branch, tag or commit id`);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const verdict = matchRules(parsePolicy(settings.egressAllow ?? []), host, port);
  if (!verdict.allowed)
    throw badRequest(
      "git_host_not_allowed",
      `the clone goes through the session's network policy, which refuses ${u.host}: add "${u.host}" to network.allow (and to git.hosts if the repository needs a credential)`,
    );
  return { url: u.href, ...(src.ref ? { ref: src.ref } : {}), ...(src.depth ? { depth: src.depth } : {}) };
}

/** The clone as a command in the sandbox (into its workspace, which is empty). */
export function gitCloneCommand(src: GitSeed, workspace: string): string[] {
  const git = ["git", "-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always", "-c", "core.hooksPath=/dev/null"];
  const depth = src.depth ? [`--depth=${src.depth}`] : [];
  // A commit id is not a --branch: clone, then check it out detached.
  if (src.ref && SHA.test(src.ref))
    return [
      "/bin/sh", "-c", 'set -e; w=$1; r=$2; shift 2; "$@"; cd "$w"; git -c core.hooksPath=/dev/null checkout -q --detach "$r"',
      "berth-clone", workspace, src.ref,
      ...git, "clone", "-q", "--no-recurse-submodules", ...depth, "--", src.url, workspace,
    ];
  return [...git, "clone", "-q", "--no-recurse-submodules", ...depth, ...(src.ref ? ["--branch", src.ref] : []), "--", src.url, workspace];
}
