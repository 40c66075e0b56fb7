import { afterEach, describe, expect, it } from "vitest";
import { FrontDoor } from "../../src/api/front-door.js";
import { HTTP_LIMIT_DEFAULTS } from "../../src/api/http-limits.js";
import { hostAllowlist } from "../../src/api/host-check.js";

let door: FrontDoor | undefined;
afterEach(async () => {
  await door?.close();
  door = undefined;
});

async function open(): Promise<string> {
  door = new FrontDoor(HTTP_LIMIT_DEFAULTS, hostAllowlist("127.0.0.1"));
  const a = await door.listen("127.0.0.1", 0);
  return `http://127.0.0.1:${a.port}`;
}

describe("the API's front door", () => {
  it("answers /health before the API is loaded, and holds every other request until the API takes over", async () => {
    const url = await open();
    const health = await fetch(`${url}/health`);
    expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);
    let answered = false;
    const held = fetch(`${url}/v1/sessions`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"harness":"pi"}' }).then(async (r) => {
      answered = true;
      return [r.status, await r.text()];
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    // The API gets the held request whole, body included, and answers it.
    door!.open((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => res.end(`${req.method} ${req.url} ${body}`));
    });
    expect(await held).toEqual([200, 'POST /v1/sessions {"harness":"pi"}']);
    // From now on everything is the API's, /health included.
    expect(await (await fetch(`${url}/health`)).text()).toBe("GET /health ");
  });

  it("leaves a Host the API refuses to the API, and answers 503 to what it held when the API could not start", async () => {
    const url = await open();
    const port = new URL(url).port;
    const { request } = await import("node:http");
    const rebinding = new Promise<number>((resolve, reject) => {
      const r = request({ host: "127.0.0.1", port, path: "/health", headers: { host: "attacker.example" } }, (res) => resolve(res.statusCode!));
      r.on("error", reject);
      r.end();
    });
    await new Promise((r) => setTimeout(r, 50));
    door!.fail();
    expect(await rebinding).toBe(503);
    const after = await fetch(`${url}/v1/sessions`);
    expect(after.status).toBe(503);
    expect(await after.json()).toMatchObject({ error: { code: "starting_failed" } });
  });
});
