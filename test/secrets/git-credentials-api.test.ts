import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type BerthServer } from "../../src/app.js";
import { redactor } from "../../src/secrets/redact.js";
import { createLogger } from "../../src/telemetry/logger.js";

// The git credential settings at the API's edge: the operator's file at start-up, a
// session's git.hosts at creation, and both in /openapi.json.
const TOKEN = "brt_unit_" + "g".repeat(32);
const dir = mkdtempSync(join(tmpdir(), "berth-gitcred-api-"));
const logger = createLogger(redactor, { level: "silent" });
const start = (env: NodeJS.ProcessEnv) =>
  startServer({
    config: { port: 0, home: mkdtempSync(join(dir, "home-")) },
    env: { BERTH_TOKEN: TOKEN, PATH: process.env.PATH, ...env },
    logger,
    gitCredentialsSystemFile: join(dir, "absent.yaml"),
  });

let server: BerthServer;
beforeAll(async () => {
  server = await start({});
});
afterAll(async () => server?.close());

const createSession = (body: unknown) =>
  server.api.inject({
    method: "POST",
    url: "/v1/sessions",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    payload: JSON.stringify(body),
  });

describe("git credentials at the API", () => {
  it("a broken file stops the server, naming the file and the field", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "credentials:\n  - host: github.com\n    token: written-here\n");
    await expect(start({ BERTH_GIT_CREDENTIALS: bad })).rejects.toThrow(`${bad}: credentials[0].token: must be { secret: NAME }`);
    await expect(start({ BERTH_GIT_CREDENTIALS: join(dir, "missing.yaml") })).rejects.toThrow("named by $BERTH_GIT_CREDENTIALS but does not exist");
  });

  it("refuses a session whose git.hosts are not hosts", async () => {
    const res = await createSession({ harness: "pi", git: { hosts: ["https://github.com/org"] } });
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error).toMatchObject({ code: "invalid_git_hosts", message: expect.stringContaining('invalid git host "https://github.com/org"') });
    expect((await createSession({ harness: "pi", git: { hosts: ["github.com"], extra: 1 } })).statusCode).toBe(400);
  });

  it("documents git.hosts in /openapi.json", async () => {
    const doc = JSON.parse((await server.api.inject({ method: "GET", url: "/openapi.json" })).body);
    const create = doc.components.schemas.CreateSessionRequest;
    expect(create.properties.git.properties.hosts.type).toBe("array");
    expect(create.properties.git.description).toMatch(/git-credential-berth/);
  });
});
