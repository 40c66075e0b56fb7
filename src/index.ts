// berth as a library: embed the server in your own Node process.
//   import { startServer } from "berth";
//   const server = await startServer({ config: { port: 0 } });
// The client SDK is its own package (berth-client, packages/client).
export { startServer, VERSION, type BerthServer, type StartOptions } from "./app.js";
export type { BerthConfig } from "./config/config.js";
export { openapiDocument } from "./api/document.js";
