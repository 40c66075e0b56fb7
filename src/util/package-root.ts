import { fileURLToPath } from "node:url";

/**
 * The installed package's (or the checkout's) root directory. Every module berth runs from
 * sits two levels below it (src/<concern>/, dist/<concern>/, dist/bundle/), so hints can name
 * files the package ships (scripts/podman-setup.sh, images/) by a path that exists.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
