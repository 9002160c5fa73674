import { defineConfig } from "vitest/config";

// End-to-end tests spawn real processes: run files one at a time, with generous timeouts.
export default defineConfig({
  test: {
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    include: ["src/**/*.test.ts"],
  },
});
