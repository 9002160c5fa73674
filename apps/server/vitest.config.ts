import { defineConfig } from "vitest/config";

// The server's suites start real members (ports, disks, timers): one file at a time, so
// they neither race for the free ports they pick nor starve each other's timers.
export default defineConfig({
  test: {
    fileParallelism: false,
  },
});
