// The least a berth server could be while idle and still answer /health, an honest /ready and
// /metrics: berth's own front door, configuration (validated with zod), SQLite store, event
// log, logger and Prometheus registry, and none of the API, gateway, mock model or session
// manager. bench/cold-start.ts bundles it as the shipped bin is bundled and measures its idle
// RSS beside the real server's: the floor under what lazy loading could ever reach.
import { FrontDoor } from "../../src/api/front-door.js";
import { hostAllowlist, parseAllowedHosts } from "../../src/api/host-check.js";
import { httpLimits } from "../../src/api/http-limits.js";
import { loadConfig, resolveApiToken } from "../../src/config/config.js";
import { EventLog } from "../../src/events/log.js";
import { redactor } from "../../src/secrets/redact.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { createMetrics } from "../../src/telemetry/metrics.js";

const config = loadConfig(process.argv[2] ? { port: Number(process.argv[2]) } : {});
const door = new FrontDoor(httpLimits(config.env), hostAllowlist(config.host, parseAllowedHosts(config.env.BERTH_ALLOWED_HOSTS)));
await door.listen(config.host, config.port);
const logger = createLogger(redactor, { level: "warn" });
resolveApiToken(config.home, process.env);
const store = new SqliteStore(config.dbPath);
const events = new EventLog(store, redactor, {});
const metrics = createMetrics({ version: "idle-core", sessionsByState: () => store.sessionCountsByState() });
// What recovery and /ready read.
await store.listSandboxes();
await store.sessionsInStates(["running"]);
await store.ping();
door.open((req, res) => {
  void (req.url === "/metrics" ? metrics.render().then((m) => res.end(m.body)) : Promise.resolve(res.end('{"status":"ready"}')));
});
logger.warn("idle core listening");
process.once("SIGTERM", () => void events.close().then(() => store.close()).then(() => process.exit(0)));
