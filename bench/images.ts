import { execFile } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fmtMiB, heading, median, now, progress, REPO, say, table } from "./util.js";

// The images of berth's recipes: their sizes, how long the server image takes to build
// cold (--no-cache, from localhost/berth-node:20) and after a source change (dependency
// layer cached), how long the node base takes, and how long `berth image check` takes on
// the server image. Needs root, Podman and the images of scripts/build-images.sh. Builds
// go to throw-away tags from a copy of the build context; they are removed at the end.

const RUNS = Number(process.env.BENCH_IMAGE_CHECK_RUNS ?? 3);
const NODE = "localhost/berth-node:20";
const IMAGES = ["localhost/berth-server:latest", NODE, "localhost/berth-base:bookworm", "localhost/berth-workspace:latest", "localhost/berth-workspace:t4"];
const env = { ...process.env, CONTAINERS_CONF: join(REPO, "config/containers.conf") };

async function sh(cmd: string, args: string[], timeout = 3_600_000): Promise<string> {
  try {
    return (await promisify(execFile)(cmd, args, { cwd: REPO, env, encoding: "utf8", timeout, maxBuffer: 256 << 20 })).stdout;
  } catch (e: any) {
    throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} ... failed: ${String(e.stderr || e.message).trim().split("\n").slice(-15).join("\n")}`);
  }
}

const podman = (...args: string[]) => sh("podman", args);
const imageId = async (image: string) => (await podman("image", "inspect", "--format", "{{.Id}}", image)).trim();

async function timed(what: string, f: () => Promise<unknown>): Promise<number> {
  progress(`images: ${what}`);
  const t = now();
  await f();
  const ms = now() - t;
  progress(`images: ${what}: ${(ms / 1000).toFixed(1)} s`);
  return ms;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function run(): Promise<void> {
  heading("Images: sizes, server image build (cold / cached dependencies), `berth image check`");
  if (process.getuid?.() !== 0) throw new Error("needs root (rootful Podman)");
  if (!existsSync(join(REPO, "dist/cli/main.js"))) throw new Error("run `npm run build` first");
  progress("images: scripts/build-images.sh (the images to measure)");
  await sh("bash", [join(REPO, "scripts/build-images.sh")]);

  const sizes: string[][] = [["image", "size (podman)", "layers"]];
  for (const image of IMAGES) {
    const [size, layers] = (await podman("image", "inspect", "--format", "{{.Size}} {{len .RootFS.Layers}}", image)).trim().split(" ");
    sizes.push([image, fmtMiB(Number(size)), layers!]);
  }

  // A copy of the build context, so a source change can be made without touching the tree.
  const ctx = mkdtempSync(join(tmpdir(), "berth-bench-images-"));
  const tag = `localhost/berth-server:bench-${process.pid}`;
  const nodeTag = `localhost/berth-node:bench-${process.pid}`;
  const made = new Set<string>();
  // The bench's builds also leave unnamed stage images (deps, build): removed at the end.
  const before = new Set((await podman("images", "-a", "-q", "--no-trunc")).split("\n"));
  const build = async (...extra: string[]) => {
    await podman(
      "build", "--format", "docker", "--network", "host", "--build-arg", `BASE=${NODE}`, ...extra,
      "-f", join(REPO, "images/server/Containerfile"), "-t", tag, ctx,
    );
    made.add(await imageId(tag));
  };
  const rows: string[][] = [["step", "time"]];
  try {
    for (const f of [".dockerignore", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "src", "conformance"])
      cpSync(join(REPO, f), join(ctx, f), { recursive: true });
    rows.push([`server image, cold (\`--no-cache\`: apt-get, npm ci compiling better-sqlite3, tsc) on ${NODE}`, secs(await timed("server build --no-cache", () => build("--no-cache")))]);
    appendFileSync(join(ctx, "src/app.ts"), `\n// bench ${Date.now()}\n`);
    rows.push(["server image after a change in src/ (dependency layer cached)", secs(await timed("server build, src changed", () => build()))]);
    rows.push(["server image, nothing changed (every layer cached)", secs(await timed("server build, unchanged", () => build()))]);
    rows.push([
      `${NODE}, cold (images/node-base/build.sh --no-cache: the host's nodejs files → a layer on berth-base)`,
      secs(await timed("node base build --no-cache", () => sh("bash", [join(REPO, "images/node-base/build.sh"), "--no-cache", nodeTag]))),
    ]);
    made.add(await imageId(nodeTag));

    const checks: number[] = [];
    for (let i = 0; i < RUNS; i++)
      checks.push(await timed(`berth image check ${i + 1}/${RUNS}`, () => sh(process.execPath, [join(REPO, "dist/cli/main.js"), "image", "check", "--json", tag])));
    rows.push([`\`berth image check\` on the server image (median of ${RUNS}; export via podman save + scan)`, secs(median(checks))]);
  } finally {
    // By name: an image that has another name too (a build identical to a kept one) only loses this one.
    for (const t of [tag, nodeTag]) await podman("rmi", t).catch(() => undefined);
    for (const id of made) {
      const names = await podman("image", "inspect", "--format", "{{len .RepoTags}}", id).catch(() => "gone");
      if (names.trim() === "0") await podman("rmi", id).catch(() => undefined);
    }
    for (const id of (await podman("images", "-q", "--no-trunc", "-f", "dangling=true")).split("\n"))
      if (id && !before.has(id)) await podman("rmi", id).catch(() => undefined);
    rmSync(ctx, { recursive: true, force: true });
  }
  say(table(sizes));
  say();
  say(table(rows));
}
