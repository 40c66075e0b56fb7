import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/**/*.test.ts"], exclude: ["test/e2e/**"], testTimeout: 20_000 } },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          globalSetup: ["test/e2e/global-setup.ts"],
          // e2e tests start real harnesses and sandboxes; two cores, so keep it modest
          pool: "forks",
        },
      },
    ],
  },
});
