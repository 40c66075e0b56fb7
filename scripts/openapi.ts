// Writes the API's OpenAPI document and the SDK's types generated from it:
//   packages/client/openapi.json   (the published spec; redocly-linted in the tests)
//   packages/client/src/schema.ts  (openapi-typescript output the SDK's types come from)
// `npm run openapi` after changing a route or a schema; a unit test fails while they are stale.
import { writeFileSync } from "node:fs";
import { generatedFiles } from "./openapi-files.js";

for (const [path, text] of Object.entries(await generatedFiles())) writeFileSync(path, text);
process.stderr.write("wrote packages/client/openapi.json and packages/client/src/schema.ts\n");
