// berth with the minimal test harness registered, as its own process (bench/density.ts):
// prints "url <url>" once listening; SIGTERM closes it.
import pino from "pino";
import { startServer } from "../../src/app.js";
import { useMinimalHarness } from "../../test/e2e/minimal-harness.js";

useMinimalHarness();
const server = await startServer({ logger: pino({ level: "warn" }, pino.destination(2)) });
await server.recovered;
process.stdout.write(`url ${server.url}\n`);
process.once("SIGTERM", () => void server.close().then(() => process.exit(0)));
