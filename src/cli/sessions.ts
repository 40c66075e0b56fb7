import { createInterface } from "node:readline/promises";
import { type Command, Option } from "commander";
import type { CreateSessionRequest, Session, SessionInfo, SessionState } from "berth-client";
import { SESSION_STATES } from "../events/types.js";
import { PERMISSION_POLICIES } from "../sessions/contract.js";
import { err } from "./color.js";
import { argOrStdin, connect, printJson, remoteCommand, UsageError, wantsJson, whole } from "./common.js";
import { localUpload } from "./files.js";
import { followTurn } from "./follow-turn.js";
import { printTable } from "./table.js";
import { exitCodeFor, Transcript } from "./transcript.js";

// `berth sessions <verb>`: everything the API does, against a running server. Data goes to
// stdout (a table or transcript for people, one JSON document with --json: what the API
// answered); status lines go to stderr.

interface CreateOptions {
  harness: string;
  model?: string;
  tier?: string;
  workspace?: string;
  git?: string;
  gitDepth?: string;
  archive?: string;
  permissionPolicy?: CreateSessionRequest["permissionPolicy"];
  systemPrompt?: string;
  wait?: boolean;
}

const json = wantsJson;

function describe(s: SessionInfo): string {
  return `${s.id} ${s.state} (${s.harness} ${s.harnessVersion}, model ${s.model}, tier ${s.tier}, workspace ${s.workspace})`;
}

export function sessionsCommand(): Command {
  const cmd = remoteCommand("sessions", "create, drive and inspect sessions on a running server");

  cmd
    .command("ls")
    .description("list sessions, newest first")
    .option("--limit <n>", "at most this many (per page with --all)", "100")
    .option("--state <states>", `only sessions in these states, comma-separated (${SESSION_STATES.join(", ")})`)
    .option("--all", "every session, page after page")
    .action(async (opts: { limit: string; state?: string; all?: boolean }, c: Command) => {
      const states = opts.state?.split(",");
      const unknown = states?.find((st) => !(SESSION_STATES as readonly string[]).includes(st));
      if (unknown !== undefined) throw new UsageError(`--state: '${unknown}' is not a session state; use ${SESSION_STATES.join(", ")}`);
      const query = { limit: whole("--limit", opts.limit), ...(states ? { state: states as SessionState[] } : {}) };
      const berth = connect(c);
      let sessions: Session[] = [];
      if (opts.all) for await (const s of berth.allSessions(query)) sessions.push(s);
      else sessions = await berth.sessions(query);
      if (json(c)) return printJson({ sessions: sessions.map((s) => s.info) });
      printTable(
        ["ID", "STATE", "HARNESS", "MODEL", "TIER", "CREATED"],
        sessions.map(({ info: s }) => [s.id, s.state, s.harness, s.model, s.tier, s.createdAt]),
      );
    });

  cmd
    .command("show")
    .description("show one session")
    .argument("<id>")
    .action(async (id: string, _o: unknown, c: Command) => {
      const s = (await connect(c).session(id)).info;
      if (json(c)) return printJson(s);
      process.stdout.write(describe(s) + "\n" + (s.error ? `error: ${s.error}\n` : ""));
    });

  cmd
    .command("create")
    .description("create a session; prints its id (the session JSON with --json)")
    .requiredOption("--harness <id>", "harness id (berth harness ls)")
    .option("--model <model>", "model id (default: the server's default model)")
    .option("--tier <tier>", "isolation tier (default: the server's)")
    .option("--workspace <dir>", "a directory the server allows (default: a fresh one)")
    .option("--git <url>", "a fresh workspace cloned from this http(s) repository (URL#ref for a branch, tag or commit)")
    .option("--git-depth <n>", "shallow clone of this many commits")
    .option("--archive <file>", "a fresh workspace seeded from this tar or tar.gz (- for stdin)")
    .addOption(new Option("--permission-policy <policy>", "how permission requests are answered").choices(PERMISSION_POLICIES))
    .option("--system-prompt <text>", "extra instructions for the agent")
    .option("--wait", "return once the session is ready")
    .action(async (o: CreateOptions, c: Command) => {
      if ([o.workspace, o.git, o.archive].filter(Boolean).length > 1) throw new UsageError("use one of --workspace, --git and --archive");
      if (o.gitDepth !== undefined && !o.git) throw new UsageError("--git-depth goes with --git");
      const [url, ref] = o.git ? [o.git.replace(/#.*$/, ""), o.git.includes("#") ? o.git.slice(o.git.indexOf("#") + 1) : undefined] : [];
      const body: CreateSessionRequest = {
        harness: o.harness,
        ...(o.model ? { model: o.model } : {}),
        ...(o.tier ? { tier: o.tier } : {}),
        ...(o.workspace ? { workspace: o.workspace } : {}),
        ...(url ? { workspace: { git: { url, ...(ref ? { ref } : {}), ...(o.gitDepth !== undefined ? { depth: whole("--git-depth", o.gitDepth) } : {}) } } } : {}),
        ...(o.permissionPolicy ? { permissionPolicy: o.permissionPolicy } : {}),
        ...(o.systemPrompt ? { systemPrompt: o.systemPrompt } : {}),
      };
      const session = await connect(c).createSession(body, o.archive ? { archive: localUpload(o.archive) } : {});
      if (o.wait) await session.ready();
      if (json(c)) return printJson(session.info);
      process.stderr.write(err.dim(`berth: session ${describe(session.info)}\n`));
      process.stdout.write(session.id + "\n");
    });

  cmd
    .command("turn")
    .description("send a prompt ('-' reads it from stdin) and print the turn as it runs; exit code from its stop reason")
    .argument("<id>")
    .argument("<prompt>", "the prompt, or - for stdin")
    .option("--idempotency-key <key>", "a retry with the same key is the same turn")
    .option("--no-wait", "return once the turn is queued")
    .action(async (id: string, prompt: string, o: { idempotencyKey?: string; wait: boolean }, c: Command) => {
      const text = await argOrStdin(prompt);
      const session = await connect(c).session(id);
      const after = session.info.lastSeq;
      const turn = await session.send(text, o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {});
      if (!o.wait) return json(c) ? printJson(turn) : void process.stdout.write(turn.id + "\n");
      const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      const ask = interactive && session.info.permissionPolicy === "ask" ? createInterface({ input: process.stdin, output: process.stderr }) : undefined;
      const abort = new AbortController();
      const onSigint = () => (abort.signal.aborted ? process.exit(130) : (void session.cancel().catch(() => {}), process.stderr.write(err.dim("\nberth: cancelling the turn\n"))));
      process.on("SIGINT", onSigint);
      try {
        const done = await followTurn(session, { after, turnId: () => turn.id, out: json(c) ? "ndjson" : new Transcript(), ...(ask ? { ask } : {}), signal: abort.signal });
        process.exitCode = exitCodeFor(done.stopReason);
      } finally {
        process.off("SIGINT", onSigint);
        ask?.close();
      }
    });

  cmd
    .command("cancel")
    .description("cancel the session's running turn")
    .argument("<id>")
    .action(async (id: string, _o: unknown, c: Command) => {
      const r = await (await connect(c).session(id)).cancel();
      if (json(c)) return printJson(r);
      process.stdout.write(`cancelling ${r.turnId}\n`);
    });

  cmd
    .command("permit")
    .description("answer a permission request: --allow, --deny, or --option <optionId>")
    .argument("<id>")
    .argument("<permissionId>")
    .option("--allow", "allow it")
    .option("--deny", "deny it")
    .option("--option <optionId>", "pick one of the request's own options")
    .action(async (id: string, permissionId: string, o: { allow?: boolean; deny?: boolean; option?: string }, c: Command) => {
      const given = [o.allow && "allow", o.deny && "deny", o.option !== undefined && "option"].filter(Boolean);
      if (given.length !== 1) throw new UsageError("give exactly one of --allow, --deny or --option <optionId>");
      const session = await connect(c).session(id);
      const r = await session.respond(permissionId, o.option !== undefined ? { optionId: o.option } : o.allow ? "allow" : "deny");
      if (json(c)) return printJson(r);
      process.stdout.write(`answered ${r.permissionId}${r.optionId ? ` with ${r.optionId}` : ""}\n`);
    });

  cmd
    .command("resume")
    .description("restart an interrupted or failed session's harness (ACP session/load)")
    .argument("<id>")
    .option("--wait", "return once the session is ready")
    .action(async (id: string, o: { wait?: boolean }, c: Command) => {
      const session = await connect(c).session(id);
      await session.resume();
      if (o.wait) await session.ready();
      if (json(c)) return printJson(session.info);
      process.stdout.write(describe(session.info) + "\n");
    });

  cmd
    .command("end")
    .description("end a session for good (idempotent)")
    .argument("<id>")
    .option("--purge", "then delete it: record, events and files (never a caller's workspace)")
    .action(async (id: string, o: { purge?: boolean }, c: Command) => {
      const session = await connect(c).session(id);
      if (o.purge) {
        await session.delete();
        if (json(c)) return printJson({ id, deleted: true });
        return void process.stdout.write(`${id} deleted\n`);
      }
      const s = await session.end();
      if (json(c)) return printJson(s);
      process.stdout.write(describe(s) + "\n");
    });

  cmd
    .command("events")
    .description("print a session's events (a transcript; NDJSON with --json)")
    .argument("<id>")
    .option("--after <seq>", "start after this sequence number", "0")
    .option("--follow", "keep streaming live events until the session ends")
    .action(async (id: string, o: { after: string; follow?: boolean }, c: Command) => {
      const berth = connect(c);
      const t = new Transcript();
      const print = (ev: Parameters<Transcript["render"]>[0]) => (json(c) ? process.stdout.write(JSON.stringify(ev) + "\n") : t.render(ev));
      const after = whole("--after", o.after);
      if (o.follow) {
        for await (const ev of berth.events(id, { after })) print(ev);
        return;
      }
      const session: Session = await berth.session(id);
      const until = session.info.lastSeq;
      if (until <= after) return;
      for await (const ev of session.events({ after })) {
        print(ev);
        if (ev.seq >= until) break;
      }
    });
  return cmd;
}
