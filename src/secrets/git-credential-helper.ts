import { SANDBOX_RUN_DIR } from "../sandboxes/types.js";
import { GIT_CREDENTIAL_PATH } from "./git-credentials-file.js";

/** Where the helper sits inside every isolated sandbox (read-only). */
export const GIT_CREDENTIAL_HELPER_PATH = `${SANDBOX_RUN_DIR}/git-credential-berth`;

/**
 * `git-credential-berth`: git's credential helper in every sandbox. Plain JavaScript, no
 * dependencies (it runs under the sandbox's own node). On `get` it sends git's
 * protocol/host/path to berth's gateway ($BERTH_GATEWAY_URL) with the session's gateway
 * token ($BERTH_GATEWAY_TOKEN) and prints what berth answers in git's format; when berth
 * has nothing it prints nothing and exits 0, so git goes on as it would without it.
 * `store` and `erase` do nothing. It never writes the token or a credential to stderr.
 */
export const GIT_CREDENTIAL_HELPER_JS = String.raw`"use strict";
// git-credential-berth: written by berth; see docs/git-credentials.md.
const http = require("node:http");
const fail = (msg) => process.stderr.write("git-credential-berth: " + msg + "\n");
const token = process.env.BERTH_GATEWAY_TOKEN;
const base = process.env.BERTH_GATEWAY_URL;
if (process.argv[2] !== "get" || !token || !base) process.exit(0);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const q = {};
  for (const line of input.split("\n")) {
    const i = line.indexOf("=");
    const k = line.slice(0, i);
    if (i > 0 && (k === "protocol" || k === "host" || k === "path")) q[k] = line.slice(i + 1);
  }
  if (!q.protocol || !q.host) return;
  const body = JSON.stringify(q);
  const req = http.request(base + "${GIT_CREDENTIAL_PATH}", {
    method: "POST",
    timeout: 60000,
    headers: { authorization: "Bearer " + token, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
  }, (res) => {
    let out = "";
    res.setEncoding("utf8");
    res.on("data", (d) => (out += d));
    res.on("end", () => {
      if (res.statusCode === 204) return;
      if (res.statusCode !== 200) return fail("berth answered HTTP " + res.statusCode);
      let c;
      try { c = JSON.parse(out); } catch { return fail("berth's answer is not JSON"); }
      if (typeof c.username !== "string" || typeof c.password !== "string" || /[\r\n\0]/.test(c.username + c.password)) return fail("berth's answer is malformed");
      let s = "username=" + c.username + "\npassword=" + c.password + "\n";
      if (typeof c.expiresAt === "number") s += "password_expiry_utc=" + Math.floor(c.expiresAt / 1000) + "\n";
      process.stdout.write(s);
    });
  });
  req.on("timeout", () => req.destroy(new Error("timed out")));
  req.on("error", (e) => fail("cannot reach berth's gateway (" + (e.code || e.message) + ")"));
  req.end(body);
});
`;

/**
 * The files that make plain `git` use the helper in an isolated sandbox: the helper and a
 * system git config (/etc/gitconfig, read-only, so the agent's own ~/.gitconfig stays its
 * own). `node` is the sandbox's node binary (SandboxLayout.node). useHttpPath lets file
 * entries with a path prefix (one org, one repository) be told apart.
 */
export function gitCredentialSandboxFiles(node: string): { path: string; content: string }[] {
  const gitconfig = [
    "# Written by berth: git asks berth for credentials (docs/git-credentials.md).",
    "[credential]",
    `\thelper = !${node} ${GIT_CREDENTIAL_HELPER_PATH}`,
    "\tuseHttpPath = true",
    "",
  ].join("\n");
  return [
    { path: GIT_CREDENTIAL_HELPER_PATH, content: GIT_CREDENTIAL_HELPER_JS },
    { path: "/etc/gitconfig", content: gitconfig },
  ];
}
