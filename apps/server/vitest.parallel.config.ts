import { defineConfig } from "vitest/config";
import { PARALLEL_FILES } from "./vitest.shared.js";

// The server's files that start no member or check only answers: two at a time (see vitest.shared.ts).
export default defineConfig({
  test: {
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    include: PARALLEL_FILES,
  },
});
