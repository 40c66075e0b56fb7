// Runs the mock-model command standalone, as `berth mock-model` would (used by cli.test.ts).
import { mockModelCommand } from "../../src/cli/mock-model.js";

await mockModelCommand().parseAsync(process.argv);
