// The shipped CLI and server as one ES module plus lazily loaded chunks (dist/bundle/):
// Node then reads a few files instead of resolving and compiling ~1,500 modules at every
// start. Native and engine modules stay in node_modules (better-sqlite3's binding, and
// dockerode, loaded only when a container tier is used). tsc's per-file output in dist/
// stays for embedders (dist/app.js) and tests.
import { readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const outdir = new URL("../dist/bundle/", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { berth: "src/cli/main.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  outExtension: { ".js": ".mjs" },
  // Beside the entry, so paths relative to a module (conformance/probes.yaml) hold as in dist/*/.
  chunkNames: "[name]-[hash]",
  external: ["better-sqlite3", "dockerode"],
  define: { BERTH_BUNDLED_VERSION: JSON.stringify(version) },
  // CommonJS dependencies bundled into an ES module still call require() for Node built-ins.
  banner: { js: 'import { createRequire as __berthRequire } from "node:module"; const require = __berthRequire(import.meta.url);' },
  logLevel: "warning",
});
