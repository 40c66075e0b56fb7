import { randomBytes, verify, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** One call to the fake's token endpoint: the JWT it carried and, when accepted, the token issued. */
export interface FakeGitHubCall {
  path: string;
  claims: any;
  signatureOk: boolean;
  token?: string;
}

export interface FakeGitHub {
  url: string;
  calls: FakeGitHubCall[];
  /** The installation tokens issued so far, in order. */
  readonly issued: string[];
  close(): Promise<void>;
}

/**
 * GitHub's installation-token endpoint as berth's GitHub App source calls it: checks the
 * RS256 JWT with the App's public key and issues tokens that expire `lifetimeMs` after
 * `now()`. Used by the unit tests (with a fake clock) and the T1 end-to-end test.
 */
export async function fakeGitHub(pub: KeyObject, now: () => number, lifetimeMs = 3600_000): Promise<FakeGitHub> {
  const calls: FakeGitHubCall[] = [];
  const server = http.createServer((req, res) => {
    const jwt = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const [h, p, s] = jwt.split(".");
    const signatureOk = !!s && verify("sha256", Buffer.from(`${h}.${p}`), pub, Buffer.from(s, "base64url"));
    const claims = p ? JSON.parse(Buffer.from(p, "base64url").toString()) : {};
    const call: FakeGitHubCall = { path: req.url!, claims, signatureOk };
    calls.push(call);
    req.resume();
    if (!signatureOk || req.method !== "POST") {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(JSON.stringify({ message: "A JSON web token could not be decoded" }));
    }
    call.token = `inst-${calls.length}-${randomBytes(8).toString("hex")}`;
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: call.token, expires_at: new Date(now() + lifetimeMs).toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    get issued() {
      return calls.flatMap((c) => (c.token ? [c.token] : []));
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
