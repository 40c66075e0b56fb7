// Runs `berth image` and `berth secrets` standalone, as the berth CLI would (used by the CLI tests).
import { Command } from "commander";
import { imageCommand } from "../../src/cli/image.js";
import { secretsCommand } from "../../src/cli/secrets.js";

const program = new Command("berth").addCommand(imageCommand()).addCommand(secretsCommand());
try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`berth: ${(e as Error).message}\n`);
  process.exit(2);
}
