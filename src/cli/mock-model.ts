import { Command, Option } from "commander";
import pino from "pino";
import { DEFAULT_MOCK_SCRIPT, loadMockScript, startMockProvider, type MockScript } from "../mock/index.js";

interface MockModelOptions {
  script?: string;
  port: string;
  host: string;
  requireKey?: string;
  verbose?: boolean;
}

/** Usage errors end the process the way the rest of the CLI does: one line, exit code 2. */
function usageError(message: string): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(2);
}

export function mockModelCommand(): Command {
  return new Command("mock-model")
    .description("serve a scripted mock LLM (Anthropic Messages, OpenAI Chat Completions and Responses) for tests")
    .option("--script <file>", "YAML or JSON script (default: a built-in one that writes hello.txt)")
    .option("--port <n>", "port", "8790")
    .option("--host <h>", "bind address", "127.0.0.1")
    .addOption(
      new Option("--require-key <key>", "reject API requests that do not present this key").env("BERTH_MOCK_REQUIRE_KEY"),
    )
    .option("--verbose", "log one JSON line per request to stderr (credentials redacted)")
    .action(async (opts: MockModelOptions) => {
      if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) usageError(`--port must be a number 0-65535, not '${opts.port}'`);
      let script: MockScript = DEFAULT_MOCK_SCRIPT;
      if (opts.script !== undefined) {
        try {
          script = loadMockScript(opts.script);
        } catch (err) {
          usageError((err as Error).message);
        }
      }
      // An empty --require-key (e.g. an unset-but-exported env var) would lock everyone out; treat it as unset.
      const requireKey = opts.requireKey ? opts.requireKey : undefined;
      const logger = opts.verbose ? pino({ base: null }, pino.destination(2)) : undefined;

      let provider;
      try {
        provider = await startMockProvider({ script, port: Number(opts.port), host: opts.host, requireKey, logger });
      } catch (err) {
        process.stderr.write(`berth: cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}\n`);
        process.exit(1);
      }
      process.stdout.write(`mock provider listening on ${provider.url} (script: ${opts.script ?? "built-in"})\n`);

      // Resolve on the first signal so parseAsync() returns after a clean close; a second one forces exit.
      await new Promise<void>((resolve) => {
        let stopping = false;
        const onSignal = () => {
          if (stopping) process.exit(130);
          stopping = true;
          resolve();
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
      await provider.close();
    });
}
