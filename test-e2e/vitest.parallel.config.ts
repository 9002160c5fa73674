import { defineConfig } from "vitest/config";
import { E2E_TIMEOUTS, PARALLEL_FILES } from "./vitest.shared.js";

// The end-to-end files that check outputs, not timing: two at a time (see vitest.shared.ts).
export default defineConfig({
  test: {
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    ...E2E_TIMEOUTS,
    include: PARALLEL_FILES,
  },
});
