import { createReadStream, createWriteStream, existsSync, statSync } from "node:fs";
import { Readable, type Writable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import type { Upload } from "berth-client";
import { connect, printJson, remoteCommand, UsageError, wantsJson, whole } from "./common.js";
import { printTable } from "./table.js";

// `berth files <verb> <session> ...`: a session's workspace through the files API, on any
// tier. `-` is stdin or stdout; data goes to stdout, status to stderr.

const session = (c: Command, id: string) => connect(c).session(id);
const json = wantsJson;

/** A local file, or stdin for `-`, as an upload body. */
export function localUpload(src: string): Upload {
  if (src === "-") {
    if (process.stdin.isTTY) throw new UsageError("'-' reads stdin, but stdin is a terminal; pipe the data in");
    return Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>;
  }
  if (!existsSync(src) || !statSync(src).isFile()) throw new UsageError(`${src} is not a file`);
  return Readable.toWeb(createReadStream(src)) as ReadableStream<Uint8Array>;
}

async function toLocal(body: ReadableStream<Uint8Array>, dest: string | undefined): Promise<void> {
  const out = dest && dest !== "-" ? createWriteStream(dest) : process.stdout;
  await pipeline(Readable.fromWeb(body as NodeReadableStream<Uint8Array>), out as Writable);
}

export function filesCommand(): Command {
  const cmd = remoteCommand("files", "list, read, write and move archives in and out of a session's workspace");

  cmd
    .command("ls")
    .description("list a directory of the workspace (its root by default)")
    .argument("<session>")
    .argument("[path]", "relative to the workspace", "")
    .action(async (id: string, path: string, _o: unknown, c: Command) => {
      const list = await (await session(c, id)).listFiles(path);
      if (json(c)) return printJson(list);
      printTable(
        ["TYPE", "SIZE", "MODIFIED", "NAME"],
        list.entries.map((e) => [e.type, String(e.size), e.mtime, e.type === "directory" ? `${e.name}/` : e.name]),
      );
      if (list.truncated) process.stderr.write("berth: more entries than shown\n");
    });

  cmd
    .command("cat")
    .description("print a file of the workspace (or a range of it)")
    .argument("<session>")
    .argument("<path>")
    .option("--offset <bytes>", "start here")
    .option("--length <bytes>", "at most this many bytes")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (id: string, path: string, o: { offset?: string; length?: string; output?: string }, c: Command) => {
      const s = await session(c, id);
      const range = { ...(o.offset !== undefined ? { offset: whole("--offset", o.offset) } : {}), ...(o.length !== undefined ? { length: whole("--length", o.length) } : {}) };
      await toLocal(await s.readFileStream(path, range), o.output);
    });

  cmd
    .command("put")
    .description("write a local file (or stdin: -) into the workspace at <path>")
    .argument("<session>")
    .argument("<path>")
    .argument("<source>", "a local file, or - for stdin")
    .action(async (id: string, path: string, source: string, _o: unknown, c: Command) => {
      const written = await (await session(c, id)).writeFile(path, localUpload(source));
      if (json(c)) return printJson(written);
      process.stderr.write(`berth: wrote ${written.path} (${written.size} bytes)\n`);
    });

  cmd
    .command("push")
    .description("extract a local tar or tar.gz (or stdin: -) into the workspace")
    .argument("<session>")
    .argument("<archive>", "a .tar or .tar.gz, or - for stdin")
    .option("--path <dir>", "into this directory of the workspace (default its root)")
    .action(async (id: string, archive: string, o: { path?: string }, c: Command) => {
      const r = await (await session(c, id)).uploadArchive(localUpload(archive), o.path ? { path: o.path } : {});
      if (json(c)) return printJson(r);
      process.stderr.write(`berth: extracted ${r.entries} entries (${r.bytes} bytes) into ${r.path || "the workspace root"}\n`);
    });

  cmd
    .command("pull")
    .description("download the workspace (or a directory of it) as a tar")
    .argument("<session>")
    .option("--path <dir>", "this directory of the workspace (default its root)")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (id: string, o: { path?: string; output?: string }, c: Command) => {
      if (!o.output && process.stdout.isTTY) throw new UsageError("the archive is binary: pass -o FILE, or pipe stdout (| tar -x)");
      await toLocal(await (await session(c, id)).downloadArchive(o.path ? { path: o.path } : {}), o.output);
    });
  return cmd;
}
