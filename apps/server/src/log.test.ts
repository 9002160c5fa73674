import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Logger } from "./log.js";

describe("Logger", () => {
  it("names the source file and line that logged as the caller, zap-style", () => {
    const dir = mkdtempSync(join(tmpdir(), "log-test-"));
    const out = join(dir, "out.log");
    const logger = new Logger("info", [out]);
    logger.info("hello", { n: 1n });
    logger.debug("not at info");
    const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    rmSync(dir, { recursive: true, force: true });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "info", msg: "hello", n: 1 });
    // This very file, at the line of the logger.info call above.
    expect(lines[0]?.["caller"]).toBe("server/log.test.ts:12");
  });
});
