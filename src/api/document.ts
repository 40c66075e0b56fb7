import pino from "pino";
import { buildApi } from "./server.js";

/**
 * The API's OpenAPI document, without a server: the routes are built with inert
 * dependencies and only described (`berth openapi`, the SDK's generated types).
 */
export async function openapiDocument(version: string, publicUrl?: string): Promise<Record<string, unknown>> {
  const inert = new Proxy({}, { get: () => () => undefined }) as never;
  const app = await buildApi({
    manager: inert,
    events: inert,
    installer: inert,
    redactor: { redact: (s: string) => s } as never,
    logger: pino({ level: "silent" }),
    apiToken: "x".repeat(64),
    notReady: async () => null,
    version,
    ...(publicUrl ? { publicUrl } : {}),
  });
  await app.ready();
  const doc = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  return doc;
}
