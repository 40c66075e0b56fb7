import { Command } from "commander";
import { remoteClient } from "./common.js";
import { printTable } from "./table.js";
import { Transcript } from "./transcript.js";

export function sessionsCommand(): Command {
  const cmd = new Command("sessions").description("inspect sessions on a running server (BERTH_URL, BERTH_TOKEN)");
  cmd
    .command("ls")
    .description("list sessions")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const sessions = await remoteClient().listSessions();
      if (opts.json) return void process.stdout.write(JSON.stringify(sessions, null, 2) + "\n");
      const rows = sessions.map((s) => [s.id, s.state, s.harness, s.model, s.tier, s.createdAt]);
      printTable(["ID", "STATE", "HARNESS", "MODEL", "TIER", "CREATED"], rows);
    });
  cmd
    .command("show")
    .description("show one session")
    .argument("<id>")
    .action(async (id: string) => {
      process.stdout.write(JSON.stringify(await remoteClient().getSession(id), null, 2) + "\n");
    });
  cmd
    .command("events")
    .description("print a session's events (a transcript, or NDJSON with --json)")
    .argument("<id>")
    .option("--after <seq>", "start after this sequence number", "0")
    .option("--follow", "keep streaming live events")
    .option("--json", "print NDJSON")
    .action(async (id: string, opts: { after: string; follow?: boolean; json?: boolean }) => {
      const client = remoteClient();
      const t = new Transcript();
      const print = (ev: any) => (opts.json ? process.stdout.write(JSON.stringify(ev) + "\n") : t.render(ev));
      let after = Number(opts.after) || 0;
      if (opts.follow) {
        for await (const ev of client.events(id, { after })) print(ev);
        return;
      }
      for (;;) {
        const page = await client.eventsPage(id, after);
        page.events.forEach(print);
        if (page.nextAfter === after || page.nextAfter >= page.lastSeq) break;
        after = page.nextAfter;
      }
    });
  return cmd;
}
