import { it } from "vitest";
import { runSimulation } from "./testing/simulation.js";
it("stats", { timeout: 600000 }, () => {
  const t0 = Date.now();
  let agg: Record<string, number> = {};
  const N = Number(process.env.N ?? 1000), F = Number(process.env.F ?? 1);
  for (let seed = F; seed < F + N; seed++) { const s = runSimulation({ seed, steps: Number(process.env.STEPS ?? 500) }) as any; for (const k of Object.keys(s)) agg[k] = (agg[k] ?? 0) + Number(s[k]); }
  console.log(JSON.stringify(agg), Date.now() - t0, "ms");
});
