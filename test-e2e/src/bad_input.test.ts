import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";
import { ETCD_TS_BIN, REAL_ETCDCTL, run } from "@etcd-ts/test-kit";

/** Bad input gets etcd's error and status code; the server keeps serving and loses nothing. */
describe("bad input", () => {
  let m: Member;
  let client: Etcd3;
  beforeAll(async () => {
    m = await Member.create({ kind: "etcd-ts" });
    await m.start();
    client = new Etcd3({ hosts: m.url });
    await client.put("kept").value("safe");
  });
  afterAll(async () => {
    client.close();
    await m.destroy();
  });

  /**
   * expectError runs one call on a fresh etcd3 client (etcd3's circuit breaker would keep a
   * shared client off the server after a few errors) and checks the error's text.
   */
  const expectError = async (call: (c: Etcd3) => Promise<unknown>, msg: RegExp) => {
    const c = new Etcd3({ hosts: m.url });
    const err = (await call(c).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: number; message?: string } | undefined;
    c.close();
    expect(err, "expected an error").toBeDefined();
    expect(err?.message).toMatch(msg);
  };

  it("refuses an oversize request", async () => {
    const big = Buffer.alloc(1_600_000, 1); // over --max-request-bytes, under the gRPC limit
    await expectError((c) => c.put("big").value(big).exec(), /request is too large/);
    const huge = Buffer.alloc(3_000_000, 1); // over the gRPC receive limit too
    await expectError((c) => c.put("huge").value(huge).exec(), /larger than max|too large/i);
  });

  it("refuses a txn over --max-txn-ops and duplicate keys", async () => {
    const ops = Array.from({ length: 129 }, (_, i) => ({ request_put: { key: Buffer.from(`t${i}`), value: Buffer.from("v") } }));
    await expectError((c) => c.kv.txn({ success: ops }), /too many operations in txn request/);
    const dup = [
      { request_put: { key: Buffer.from("d"), value: Buffer.from("1") } },
      { request_put: { key: Buffer.from("d"), value: Buffer.from("2") } },
    ];
    await expectError((c) => c.kv.txn({ success: dup }), /duplicate key given in txn request/);
    const ok = await client.kv.txn({ success: ops.slice(0, 128) });
    expect(ok.succeeded).toBe(true);
  });

  it("answers with etcd's status codes (seen through etcdctl's exit and message)", async () => {
    const r = await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, "put", "", "v"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("code = InvalidArgument desc = etcdserver: key is not provided");
    const f = await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, "get", "kept", "--rev", "99999"]);
    expect(f.stderr).toContain("code = OutOfRange desc = etcdserver: mvcc: required revision is a future revision");
  });

  it("still serves, and lost nothing", async () => {
    expect(await client.get("kept").string()).toBe("safe");
    expect(await client.get("t127").string()).toBe("v");
  });
});

describe("bad configuration and storage", () => {
  it("refuses an unknown flag with etcd's message and exit code", async () => {
    const r = await run(process.execPath, [ETCD_TS_BIN, "--no-such-flag"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("flag provided but not defined: -no-such-flag");
  });

  it("refuses to start on a WAL corrupted before its tail, and keeps the data", async () => {
    const m = await Member.create({ kind: "etcd-ts" });
    try {
      await m.start();
      const c = new Etcd3({ hosts: m.url });
      for (let i = 0; i < 200; i++) await c.put(`c${i}`).value("x".repeat(100));
      c.close();
      await m.kill("SIGTERM");
      const walDir = join(m.dataDir, "member", "wal");
      const segs = readdirSync(walDir)
        .filter((f) => statSync(join(walDir, f)).isFile() && statSync(join(walDir, f)).size > 4096)
        .sort();
      const seg = join(walDir, segs[0] as string);
      const original = readFileSync(seg);
      const bytes = Buffer.from(original);
      // Flip a bit a third of the way into the written records (a segment may be preallocated with zeros).
      let end = bytes.length - 1;
      while (end > 0 && bytes[end] === 0) end--;
      const mid = Math.floor(end / 3);
      bytes[mid] = (bytes[mid] as number) ^ 0x40;
      writeFileSync(seg, bytes);
      await expect(m.start()).rejects.toThrow(/exited during start/);
      expect(readFileSync(m.logFile, "utf8")).toMatch(/wal: /);
      // Restoring the byte brings everything back.
      writeFileSync(seg, original);
      await m.start();
      const c2 = new Etcd3({ hosts: m.url });
      expect(await c2.getAll().prefix("c").count()).toBe(200);
      c2.close();
    } finally {
      await m.destroy();
    }
  });
});
