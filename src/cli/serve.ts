import { Command } from "commander";
import { FrontDoor } from "../api/front-door.js";
import { hostAllowlist, parseAllowedHosts } from "../api/host-check.js";
import { httpLimits } from "../api/http-limits.js";
import { loadConfig } from "../config/config.js";
import { UsageError } from "./common.js";

export function serveCommand(): Command {
  return new Command("serve")
    .description("start the berth HTTP API (default 127.0.0.1:8765)")
    .option("--port <port>", "port (also PORT)")
    .option("--host <host>", "bind address (also BERTH_HOST; default 127.0.0.1)")
    .option("--node-id <id>", "this node's id among several on one database (also BERTH_NODE_ID; default the host name)")
    .action(async (opts: { port?: string; host?: string; nodeId?: string }) => {
      // PORT itself is parsed with the rest of the configuration (config/env.ts).
      const port = opts.port;
      if (port !== undefined && !/^\d+$/.test(port)) throw new UsageError(`--port must be a number, not '${port}'`);
      if (opts.nodeId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(opts.nodeId))
        throw new UsageError(`--node-id must be letters, digits, '.', '_' or '-' (at most 63), not '${opts.nodeId}'`);
      const config = loadConfig({ ...(port !== undefined ? { port: Number(port) } : {}), ...(opts.host ? { host: opts.host } : {}), ...(opts.nodeId ? { nodeId: opts.nodeId } : {}) });
      // Listen first, load the server behind it: /health answers while the rest loads, and
      // every other request waits for the API (api/front-door.ts).
      const door = new FrontDoor(httpLimits(config.env), hostAllowlist(config.host, parseAllowedHosts(config.env.BERTH_ALLOWED_HOSTS)));
      await door.listen(config.host, config.port);
      const { startServer } = await import("../app.js");
      const server = await startServer({ loaded: config, frontDoor: door }).catch((e: unknown) => {
        door.fail();
        throw e;
      });
      const say = (s: string) => process.stderr.write(s + "\n");
      say(`berth listening on ${server.url} (home ${server.config.home}${server.config.env.BERTH_DATABASE_URL ? `; node ${server.config.nodeId} on a shared PostgreSQL database` : ""})`);
      if (server.exposure) say(`berth: WARNING: ${server.exposure}`);
      if (server.tokenCreated) say(`API token (saved 0600 in ${server.config.home}/token, shown once): ${server.apiToken}`);
      // The token rides in the fragment, which no server (nor proxy log) ever receives; the console drops it from the address bar.
      if (server.consoleServed)
        say(`console: ${server.url}/ui/${server.tokenCreated ? `#token=${encodeURIComponent(server.apiToken)}` : " (sign in with the API token)"}`);
      if (server.usingMock) say(`no provider key configured: the default model is berth's scripted mock (${server.defaultModel}) at ${server.mock.url}`);
      else say(`default model ${server.defaultModel}; providers: ${server.providers.list().filter((p) => p.secretPresent).map((p) => p.id).join(", ")} ('berth providers ls' for all)`);
      const stop = async () => {
        await server.close();
        process.exit(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
