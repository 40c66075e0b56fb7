import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { resolveSecret, SecretFileError, secretPresent } from "../../src/providers/secrets.js";
import { tempDir } from "./helpers.js";

describe("secret sources", () => {
  it("NAME_FILE: read and trimmed", () => {
    const f = join(tempDir(), "zai.key");
    writeFileSync(f, "  file-secret-value-01\n");
    expect(resolveSecret("ZAI_API_KEY", { env: { ZAI_API_KEY_FILE: f } })).toEqual({ value: "file-secret-value-01", from: "file", where: `$ZAI_API_KEY_FILE (${f})` });
    const r = ProviderRegistry.load({ env: { ZAI_API_KEY_FILE: f }, systemFile: "/nonexistent" }).resolve("glm-4.6");
    expect(r.auth).toEqual({ header: "authorization", value: "Bearer file-secret-value-01" });
    expect(r.secret).toMatchObject({ name: "ZAI_API_KEY", from: "file" });
  });

  it("order: per-session secret, then NAME, then NAME_FILE", () => {
    const f = join(tempDir(), "k");
    writeFileSync(f, "from-file-000");
    const env = { K: "from-env-000", K_FILE: f };
    expect(resolveSecret("K", { env, session: new Map([["K", "from-session-000"]]) })?.from).toBe("session");
    expect(resolveSecret("K", { env })).toMatchObject({ value: "from-env-000", from: "env" });
    expect(resolveSecret("K", { env: { K_FILE: f } })).toMatchObject({ value: "from-file-000", from: "file" });
    expect(resolveSecret("K", { env: {} })).toBeUndefined();
  });

  it("per-session secrets win in resolution", () => {
    const reg = ProviderRegistry.load({ env: { ANTHROPIC_API_KEY: "server-key-0000" }, systemFile: "/nonexistent" });
    expect(reg.resolve("claude-sonnet-4-5").auth?.value).toBe("server-key-0000");
    const r = reg.resolve("claude-sonnet-4-5", { secrets: new Map([["ANTHROPIC_API_KEY", "session-key-0000"]]) });
    expect(r.auth?.value).toBe("session-key-0000");
    expect(r.secret).toMatchObject({ from: "session", where: "per-session secret" });
    // Memory only: the next resolution without them is back to the server's key.
    expect(reg.resolve("claude-sonnet-4-5").auth?.value).toBe("server-key-0000");
  });

  it("empty values are absent; an empty or unreadable NAME_FILE is an error that names the path, not the content", () => {
    const dir = tempDir();
    expect(resolveSecret("K", { env: { K: "" } })).toBeUndefined();
    expect(resolveSecret("K", { env: {}, session: new Map([["K", ""]]) })).toBeUndefined();
    const empty = join(dir, "empty");
    writeFileSync(empty, " \n");
    expect(() => resolveSecret("K", { env: { K_FILE: empty } })).toThrow(new SecretFileError("K", empty, "is empty"));
    expect(() => resolveSecret("K", { env: { K_FILE: join(dir, "none") } })).toThrow(/K_FILE names .*none, which does not exist/);
    if (process.getuid?.() !== 0) {
      const locked = join(dir, "locked");
      writeFileSync(locked, "locked-secret-value");
      chmodSync(locked, 0);
      let msg = "";
      try {
        resolveSecret("K", { env: { K_FILE: locked } });
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toBe(`K_FILE names ${locked}, which cannot be read (EACCES)`);
    }
    expect(secretPresent("K", { env: { K_FILE: empty } })).toBe(false);
  });

  it("valuesForRedaction: the environment's provider secrets, for the redactor", () => {
    const f = join(tempDir(), "ds");
    writeFileSync(f, "deepseek-file-key-00\n");
    const reg = ProviderRegistry.load({ env: { ZAI_API_KEY: "zai-env-key-000", DEEPSEEK_API_KEY_FILE: f, UNRELATED: "not-a-provider-secret" }, systemFile: "/nonexistent" });
    expect(reg.valuesForRedaction().sort()).toEqual(["deepseek-file-key-00", "zai-env-key-000"]);
  });
});
