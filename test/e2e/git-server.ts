import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";

// A git server over HTTP for tests and benchmarks: `git http-backend` as CGI, behind Basic
// auth (user x-access-token) whose password `valid` accepts (always true: no auth at all).

export interface GitServer {
  port: number;
  /** Every request, in order: did it carry Authorization, and was it the valid token. */
  seen: { url: string; hadAuth: boolean; valid: boolean; password?: string }[];
  close(): Promise<void>;
}

const basicPassword = (auth: string | undefined) => {
  const m = /^Basic (.+)$/.exec(auth ?? "");
  const [user, pass] = m ? Buffer.from(m[1]!, "base64").toString().split(":") : [];
  return user === "x-access-token" ? pass : undefined;
};

/** `git http-backend` as CGI behind Basic auth (user x-access-token, a password `valid` accepts). */
export async function startGitServer(root: string, host: string, valid: (password: string | undefined) => boolean): Promise<GitServer> {
  const seen: GitServer["seen"] = [];
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization;
    const password = basicPassword(auth);
    const ok = valid(password);
    seen.push({ url: req.url!, hadAuth: !!auth, valid: ok, ...(ok ? { password } : {}) });
    if (!ok) {
      req.resume();
      res.writeHead(401, { "www-authenticate": 'Basic realm="berth-test"', "content-type": "text/plain" });
      return res.end("authentication required\n");
    }
    const u = new URL(req.url!, "http://x");
    const h = (k: string) => (req.headers[k] as string | undefined) ?? "";
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH!,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method!,
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: h("content-type"),
        ...(h("content-length") ? { CONTENT_LENGTH: h("content-length") } : {}),
        HTTP_CONTENT_ENCODING: h("content-encoding"),
        GIT_PROTOCOL: h("git-protocol"),
        REMOTE_USER: "x-access-token",
        REMOTE_ADDR: req.socket.remoteAddress ?? "",
        SERVER_PROTOCOL: "HTTP/1.1",
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on("data", (d: Buffer) => {
      if (started) return void res.write(d);
      head = Buffer.concat([head, d]);
      const text = head.toString("latin1");
      const m = /\r?\n\r?\n/.exec(text);
      if (!m) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, m.index).split(/\r?\n/)) {
        const i = line.indexOf(":");
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        if (k === "status") status = parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(Buffer.byteLength(text.slice(0, m.index + m[0].length), "latin1")));
    });
    cgi.stdout.on("end", () => res.end());
    cgi.on("error", () => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

