import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Berth } from "../../packages/client/src/index.js";
import { validateMockScript } from "../../src/mock/index.js";
import { FINAL_TEXT, useMockedBerth, WRITE_PROMPT } from "./harness-contract.js";
import { API_TOKEN } from "./helpers.js";
import { readTar, tarOf } from "../files/tar.js";

// Workspaces in and out through the files API, with a real Pi in T1 (bubblewrap) and T2
// (a Podman container, reached through the engine): a session seeded from an uploaded
// tar.gz, an archive that tries to escape refused whole, the agent's edit as the turn's
// exact diff, ranged reads, and a download that gives back the same bytes.

const CANARY = "sk-ant-api03-FILESCANARY" + "F".repeat(40);
// The model takes a second to answer, so the test can try a write while the turn runs.
const script = validateMockScript({
  steps: [
    { text: "Editing.", delay_ms: 1000, tool: { name: "bash", input: { command: "sed -i s/hello/HELLO/ src/app.txt && ln -s /etc etc-link && ln -s /home home-link && echo edited" } } },
    { text: FINAL_TEXT },
  ],
});
const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) });

async function untar(stream: ReadableStream<Uint8Array>): Promise<Map<string, { type: string; body: Buffer; linkname?: string | null }>> {
  const entries = await readTar(Readable.fromWeb(stream as never));
  return new Map(entries.map((e) => [e.header.name.replace(/^\.\//, ""), { type: e.header.type ?? "file", body: e.body, linkname: e.header.linkname }]));
}

const BLOB = randomBytes(300_000);

for (const tier of ["process", "container"] as const)
  describe(`the files API on tier ${tier}`, () => {
    it("seeds from an upload, refuses an escaping archive, diffs the agent's edit, reads ranges and round-trips the workspace", async () => {
      const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
      const seed = await tarOf(
        [
          { name: "src/", type: "directory", mode: 0o755 },
          { name: "src/app.txt", body: "hello\n", mode: 0o644 },
          { name: "blob.bin", body: BLOB, mode: 0o600 },
          { name: "latest", type: "symlink", linkname: "src/app.txt" },
        ],
        true,
      );
      const session = await berth.createSession({ harness: "pi", tier }, { archive: seed });
      expect(session.info.workspace).toContain(join("workspaces", session.id));
      const info = await session.ready();
      expect(info.state).toBe("ready");
      expect((await session.listFiles()).entries.map((e) => `${e.name}:${e.type}`)).toEqual(["blob.bin:file", "latest:symlink", "src:directory"]);

      // ../ and a symlink to /etc: refused whole, nothing written anywhere.
      const marker = `berth-escape-${session.id}`;
      const evil = await tarOf([
        { name: "fine.txt", body: "fine" },
        { name: `../../../../../../tmp/${marker}`, body: "escaped" },
      ]);
      await expect(session.uploadArchive(evil)).rejects.toMatchObject({ status: 400, code: "unsafe_archive" });
      const viaLink = await tarOf([{ name: "etc", type: "symlink", linkname: "/etc" }, { name: "etc/cron.d/evil", body: "* * * * * root id" }]);
      await expect(session.uploadArchive(viaLink)).rejects.toMatchObject({ status: 400, code: "unsafe_archive" });
      expect(existsSync(join(tmpdir(), marker))).toBe(false);
      expect((await session.listFiles()).entries.map((e) => e.name)).not.toContain("fine.txt");

      // The agent edits one file (and plants links out of the workspace); the turn's diff is exactly that edit.
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const turn = session.prompt(WRITE_PROMPT, { onEvent: (e) => e.type === "turn.started" && started() });
      await running;
      // A write now would race the agent's edits (and blur the turn's diff): refused, saying so.
      await expect(session.writeFile("racing.txt", "x")).rejects.toMatchObject({ status: 409, code: "turn_running" });
      await expect(session.uploadArchive(seed)).rejects.toMatchObject({ status: 409, code: "turn_running" });
      const result = await turn;
      expect(result.stopReason).toBe("end_turn");
      const diff = await session.diff(result.turn.id);
      expect(diff.files.filter((f) => !f.path.endsWith("-link"))).toEqual([{ path: "src/app.txt", change: "modified", binary: false, additions: 1, deletions: 1 }]);
      expect(diff.patch).toContain("-hello\n+HELLO");

      expect(Buffer.from(await session.readFile("src/app.txt")).toString()).toBe("HELLO\n");
      expect(Buffer.from(await session.readFile("latest")).toString()).toBe("HELLO\n");
      expect(Buffer.from(await session.readFile("blob.bin", { offset: 1000, length: 64 }))).toEqual(BLOB.subarray(1000, 1064));
      // Links the agent planted lead nowhere outside. In the container (reached through the
      // engine) /etc exists and the link is refused as an escape; in T1's bubblewrap view of
      // the workspace alone there is no /etc at all.
      const outside = tier === "container" ? "path_escapes_workspace" : "path_not_found";
      await expect(session.readFile("etc-link/passwd")).rejects.toMatchObject({ code: outside });
      await expect(session.listFiles("home-link")).rejects.toMatchObject({ code: outside });
      await expect(session.readFile("nope.txt")).rejects.toMatchObject({ status: 404, code: "path_not_found" });
      // Ranges a caller can send by hand: past the end, backwards, a suffix form berth does not serve.
      const at = `${ctx.berth.url}/v1/sessions/${session.id}/files/content?path=blob.bin`;
      const ranged = (range: string) => fetch(at, { headers: { authorization: `Bearer ${API_TOKEN}`, range } });
      const past = await ranged("bytes=999999999-");
      expect([past.status, past.headers.get("content-range"), ((await past.json()) as { error: { code: string } }).error.code]).toEqual([416, `bytes */${BLOB.length}`, "invalid_range"]);
      expect((await ranged("bytes=50-10")).status).toBe(416);
      const suffix = await ranged("bytes=-5");
      expect([suffix.status, (await suffix.arrayBuffer()).byteLength]).toEqual([200, BLOB.length]);
      const plain = await fetch(`${ctx.berth.url}/v1/sessions/${session.id}/files/archive`, { method: "PUT", headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "text/plain" }, body: "x" });
      expect(plain.status).toBe(415);
      const json = await fetch(`${ctx.berth.url}/v1/sessions/${session.id}/files/content?path=x.json`, { method: "PUT", headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" }, body: "{}" });
      expect([json.status, ((await json.json()) as { error: { code: string } }).error.code]).toEqual([415, "unsupported_media_type"]);
      await expect(session.readFile("../../etc/passwd")).rejects.toMatchObject({ status: 400, code: "invalid_path" });
      await expect(session.writeFile(".git/hooks/post-checkout", "#!/bin/sh\n")).rejects.toMatchObject({ status: 403, code: "protected_path" });

      // Write, then download the whole workspace: the same bytes come back.
      expect(await session.writeFile("notes/new.md", "# notes\n")).toEqual({ path: "notes/new.md", size: 8 });
      const back = await untar(await session.downloadArchive());
      expect(back.get("blob.bin")!.body.equals(BLOB)).toBe(true);
      expect(back.get("src/app.txt")!.body.toString()).toBe("HELLO\n");
      expect(back.get("notes/new.md")!.body.toString()).toBe("# notes\n");
      expect(back.get("latest")).toMatchObject({ type: "symlink", linkname: "src/app.txt" });
      const sub = await untar(await session.downloadArchive({ path: "src" }));
      expect([...sub.keys()].filter((k) => k !== "" && k !== ".")).toEqual(["app.txt"]);

      await session.end();
      await expect(session.listFiles()).rejects.toMatchObject({ status: 409, code: "session_ended" });
      expect(readdirSync(join(ctx.berth.home, "tmp", "uploads"))).toEqual([]);
    });
  });
