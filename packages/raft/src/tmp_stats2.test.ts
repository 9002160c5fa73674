import { it } from "vitest";
import { runSimulation } from "./testing/simulation.js";
it("stats", { timeout: 600000 }, () => {
  console.log(JSON.stringify(runSimulation({ seed: Number(process.env.SEED), steps: Number(process.env.STEPS ?? 1000) }), (_k, v) => typeof v === "bigint" ? String(v) : v));
});
