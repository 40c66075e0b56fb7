import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// The multi-node recipe cannot run here (no image can be pulled), so its shape is checked:
// every berth node has its own id, the same database and the same home volume, and the load
// balancer sends to each of them.
const dir = join(import.meta.dirname, "../../deploy");

describe("deploy/compose.yaml", () => {
  const compose = parse(readFileSync(join(dir, "compose.yaml"), "utf8"), { merge: true }) as { services: Record<string, any> };
  const nodes = Object.entries(compose.services).filter(([, s]) => String(s.image).includes("berth-server"));

  it("runs two or more berth nodes, each with its own --node-id, on one database and one shared home", () => {
    expect(nodes.length).toBeGreaterThanOrEqual(2);
    const ids = nodes.map(([, s]) => s.command[s.command.indexOf("--node-id") + 1]);
    expect(new Set(ids).size).toBe(nodes.length);
    for (const [, s] of nodes) {
      expect(s.command[0]).toBe("serve");
      expect(s.environment.BERTH_DATABASE_URL).toMatch(/^postgres:\/\/berth:\$\{POSTGRES_PASSWORD[^}]*\}@postgres:5432\/berth$/);
      expect(s.volumes).toContain("berth-home:/var/lib/berth");
      // No secret is written into the recipe itself.
      expect(s.environment.BERTH_TOKEN).toMatch(/^\$\{BERTH_TOKEN/);
    }
    expect(compose.services.postgres.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD/);
  });

  it("balances over every node, without buffering event streams", () => {
    const nginx = readFileSync(join(dir, "nginx.conf"), "utf8");
    for (const [name] of nodes) expect(nginx).toContain(`server ${name}:8765`);
    expect(nginx).toMatch(/proxy_buffering off;/);
  });
});
