import { defineConfig } from "vitest/config";
import { E2E_TIMEOUTS, PARALLEL_FILES } from "./vitest.shared.js";

// End-to-end tests spawn real processes: these files run one at a time; PARALLEL_FILES run
// two at a time after them (vitest.parallel.config.ts).
export default defineConfig({
  test: {
    fileParallelism: false,
    ...E2E_TIMEOUTS,
    include: ["src/**/*.test.ts"],
    exclude: ["**/node_modules/**", ...PARALLEL_FILES],
  },
});
