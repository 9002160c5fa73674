import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);

/** SCENARIO is what a user of the npm package does: every part of the Etcd API once. */
const SCENARIO = `
import { Etcd, compare, op } from "@etcd-ts/client";
const check = (ok, what) => { if (!ok) throw new Error("scenario: " + what); };
const etcd = new Etcd({ endpoints: [process.argv[2]] });
const ns = etcd.namespace("pkg/");
await ns.put("a", "1");
check((await ns.get("a")) === "1", "get");
await ns.putJSON("j", { n: 1 });
check((await ns.getJSON("j")).n === 1, "getJSON");
const t = await ns.txn().if(compare.value("a", "==", "1")).do(op.put("b", "2"), op.get("a")).commit();
check(t.succeeded && t.results[1].kvs[0].string() === "1", "txn");
const w = ns.watch("w");
const it = w[Symbol.asyncIterator]();
await w.created;
await ns.put("w", "x");
const ev = (await it.next()).value;
check(ev.type === "put" && ev.kv.keyString === "w" && ev.kv.string() === "x", "watch");
w.close();
const lease = await ns.lease(5);
await ns.put("l", "v", { lease });
check((await ns.getKv("l")).lease === lease.id, "lease");
await ns.revoke(lease);
check((await ns.get("l")) === undefined, "revoke");
const fence = await ns.lock("L", async (held) => held.revision);
check(fence > 0n, "lock");
const r = await ns.stm(async (tx) => { tx.put("s", String(Number(await tx.get("a")) + 1)); });
check(r.attempts === 1 && (await ns.get("s")) === "2", "stm");
check((await etcd.keys("pkg/")).length === 5, "keys under the namespace");
console.log("scenario ok");
etcd.close();
`;

/** SCENARIO_CJS is the same from CommonJS (require), the part a CommonJS user reaches first. */
const SCENARIO_CJS = `
const { Etcd, compare, op } = require("@etcd-ts/client");
(async () => {
  const etcd = new Etcd({ endpoints: [process.argv[2]] });
  const ns = etcd.namespace("cjs/");
  await ns.put("a", "1");
  const t = await ns.txn().if(compare.value("a", "==", "1")).do(op.get("a")).commit();
  if (!t.succeeded || t.results[0].kvs[0].string() !== "1") throw new Error("scenario: txn");
  const fence = await ns.lock("L", async (held) => held.revision);
  if (!(fence > 0n)) throw new Error("scenario: lock");
  console.log("cjs scenario ok");
  etcd.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** TYPED is a TypeScript consumer: it must type-check against the package's declarations. */
const TYPED = `
import { Etcd, compare, op, type KeyValue, type WatchEvent } from "@etcd-ts/client";
export async function main(etcd: Etcd): Promise<string | undefined> {
  const kv: KeyValue | undefined = await etcd.getKv("a");
  const t = await etcd.txn().if(compare.version("a", ">", 0)).do(op.get("a")).else(op.put("a", "1")).commit();
  const n: bigint = t.succeeded ? t.results[0].count : 0n;
  for await (const ev of etcd.watch("a")) { const e: WatchEvent = ev; return e.kv.string() + String(n); }
  return kv?.string();
}
`;

/**
 * The npm product: @etcd-ts/client and @etcd-ts/proto packed with npm pack, installed into a
 * project outside the workspace, run from ESM and from CommonJS against etcd-ts and the real
 * etcd, and type-checked from TypeScript consumers of both kinds.
 */
describe("the packed @etcd-ts/client, installed outside the workspace", () => {
  let dir: string;
  const members: Member[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "client-pkg-"));
    execFileSync("npm", ["pack", "-w", "@etcd-ts/proto", "-w", "@etcd-ts/client", "--pack-destination", dir], { cwd: REPO, stdio: "pipe" });
    const tarballs = readdirSync(dir).filter((f) => f.endsWith(".tgz"));
    expect(tarballs).toHaveLength(2);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    writeFileSync(join(dir, "scenario.mjs"), SCENARIO);
    writeFileSync(join(dir, "scenario.cjs"), SCENARIO_CJS);
    writeFileSync(join(dir, "typed.ts"), TYPED);
    // The same consumer as CommonJS: TypeScript then resolves the package's "require" declarations.
    writeFileSync(join(dir, "typed_cjs.cts"), TYPED);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, types: ["node"] }, files: ["typed.ts", "typed_cjs.cts"] }),
    );
    const typesNode = (require("@types/node/package.json") as { version: string }).version;
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...tarballs.map((t) => `./${t}`), `@types/node@${typesNode}`], {
      cwd: dir,
      stdio: "pipe",
    });
  }, 180_000);
  afterAll(async () => {
    for (const m of members) await m.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ["etcd-ts", "etcd"] as const) {
    it(`runs its scenario against ${kind}`, async () => {
      const m = await Member.create({ kind });
      members.push(m);
      await m.start();
      const out = execFileSync(process.execPath, ["scenario.mjs", m.endpoint], { cwd: dir, encoding: "utf8" });
      expect(out.trim()).toBe("scenario ok");
      const cjs = execFileSync(process.execPath, ["scenario.cjs", m.endpoint], { cwd: dir, encoding: "utf8" });
      expect(cjs.trim()).toBe("cjs scenario ok");
    });
  }

  it("type-checks a TypeScript consumer against its declarations", () => {
    const tsc = join(REPO, "node_modules", "typescript", "bin", "tsc");
    const out = execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir, encoding: "utf8" });
    expect(out).toBe("");
  });
});
