import { defineConfig } from "vitest/config";
import { PARALLEL_FILES } from "./vitest.shared.js";

// The server's suites that start real members (ports, disks, timers): one file at a time, so
// they neither race for the free ports they pick nor starve each other's timers. The files
// in PARALLEL_FILES run two at a time after them (vitest.parallel.config.ts).
export default defineConfig({
  test: {
    fileParallelism: false,
    include: ["src/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", ...PARALLEL_FILES],
  },
});
