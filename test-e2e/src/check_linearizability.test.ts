import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS_BIN, REAL_ETCDCTL, run } from "@etcd-ts/test-kit";
import { Member } from "./harness/member.js";

/**
 * `etcdctl-ts check linearizability` against a live etcd-ts and the real etcd: a short run
 * passes, leaves nothing behind, and refuses a prefix that already holds keys (it would
 * otherwise check a history it did not start from).
 */
describe.each(["etcd-ts", "etcd"] as const)("etcdctl-ts check linearizability against %s", (kind) => {
  let m: Member;
  beforeAll(async () => {
    m = await Member.create({ kind });
    await m.start();
  }, 60_000);
  afterAll(async () => {
    await m.destroy();
  });

  const ctl = (args: string[]): ReturnType<typeof run> => run(process.execPath, [ETCDCTL_TS_BIN, "--endpoints", m.endpoint, ...args], { timeoutMs: 60_000 });

  it("passes a short run with writes from another client going on, and deletes its prefix", async () => {
    let writing = true;
    const other = (async () => {
      for (let i = 0; writing; i++) await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, "put", `other${i % 3}`, `v${i}`]);
    })();
    const r = await ctl(["check", "linearizability", "--duration", "3s", "--prefix", "/check-e2e/"]);
    writing = false;
    await other;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/operations: \d+ ok/);
    expect(r.stdout).toContain("linearizable: yes");
    expect(r.stdout).toMatch(/watch guarantees: kept \(\d+ watches, [1-9]\d* events\)/);
    expect(r.stdout.trimEnd().endsWith("PASS")).toBe(true);
    const left = await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, "get", "--prefix", "/check-e2e/", "-w", "json"]);
    expect(JSON.parse(left.stdout).count ?? 0).toBe(0);
  }, 60_000);

  it("refuses a prefix that is not empty", async () => {
    await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, "put", "/taken/x", "1"]);
    const r = await ctl(["check", "linearizability", "--duration", "1s", "--prefix", "/taken/"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("prefix /taken/ is not empty");
  }, 60_000);
});
