import { readFileSync } from "node:fs";

declare const BERTH_BUNDLED_VERSION: string | undefined;

/** berth's version: set at bundling (dist/bundle), else read from the package.json next to dist/ or src/. */
export const VERSION: string =
  typeof BERTH_BUNDLED_VERSION === "string" ? BERTH_BUNDLED_VERSION : (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
