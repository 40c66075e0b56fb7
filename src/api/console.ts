import { existsSync } from "node:fs";
import { join } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

// The web console (packages/console, built by Vite into dist/console) at /ui/: same origin as
// the API, so it needs no CORS and no token in any URL (it calls the API with the bearer
// header). Strict headers: only this origin's scripts, styles and API; no framing; no referrer.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** Serves the console when `dir` holds a build; returns whether it does. */
export async function registerConsole(app: FastifyInstance<any, any, any, any, any>, dir: string): Promise<boolean> {
  if (!existsSync(join(dir, "index.html"))) return false;
  app.addHook("onSend", async (req, reply) => {
    if (req.url === "/ui" || req.url.startsWith("/ui/")) for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  });
  await app.register(fastifyStatic, {
    root: dir,
    prefix: "/ui/",
    // Files are routed one by one (no wildcard), so every other /ui/ path is the app's own route.
    wildcard: false,
    index: false,
    // Hashed asset names: cache them for good; index.html never (it names the current ones).
    immutable: true,
    maxAge: "365d",
    schemaHide: true,
  });
  const index = (_req: unknown, reply: { header(k: string, v: string): unknown; sendFile(f: string, o?: object): unknown }) => {
    reply.header("cache-control", "no-store");
    return reply.sendFile("index.html", { cacheControl: false });
  };
  app.get("/ui", { schema: { hide: true } }, async (_req, reply) => reply.redirect("/ui/", 308));
  app.get("/ui/", { schema: { hide: true } }, index as never);
  app.get("/ui/*", { schema: { hide: true } }, index as never);
  return true;
}
