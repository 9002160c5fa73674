import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { checkRepo, format, type Violation } from "./check.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

interface Pkg {
  name: string;
  private?: boolean;
  scripts?: Record<string, string>;
  exports?: unknown;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const lib = (name: string, dependencies: Record<string, string> = {}, devDependencies: Record<string, string> = {}): Pkg => ({
  name,
  exports: { ".": "./dist/index.js" },
  dependencies,
  devDependencies,
});

/**
 * A small repository laid out like ours: proto, raft, wal, mvcc, client, the gRPC server and
 * the server app, each clean. lease and auth are not in the workspaces list: the rules bind them
 * as soon as their directories exist.
 */
const BASE: Record<string, Pkg> = {
  "packages/proto": lib("@etcd-ts/proto", { "@grpc/grpc-js": "^1" }),
  "packages/raft": lib("@etcd-ts/raft", { "@etcd-ts/proto": "0.1.0" }),
  "packages/wal": lib("@etcd-ts/wal", { "@etcd-ts/proto": "0.1.0" }),
  "packages/backend": lib("@etcd-ts/backend", { rocksdb: "^5" }),
  "packages/mvcc": lib("@etcd-ts/mvcc", { "@etcd-ts/proto": "0.1.0", "@etcd-ts/backend": "0.1.0" }, { "node-forge": "^1" }),
  "packages/grpc-server": lib("@etcd-ts/grpc-server"),
  "packages/client": lib("@etcd-ts/client", { "@etcd-ts/proto": "0.1.0", "@grpc/grpc-js": "^1" }),
  "apps/server": { ...lib("@etcd-ts/server", { "@etcd-ts/raft": "0.1.0", "@etcd-ts/mvcc": "0.1.0", "@etcd-ts/proto": "0.1.0" }) },
  "test-e2e": { name: "@etcd-ts/test-e2e", private: true, dependencies: { "@etcd-ts/client": "0.1.0" } },
};

const CLEAN: Record<string, string> = {
  "packages/proto/src/index.ts": `import * as grpc from "@grpc/grpc-js";\nexport const x = grpc;\n`,
  "packages/raft/src/raft.ts": [
    `import { raftpb } from "@etcd-ts/proto";`,
    `import { strict as assert } from "node:assert";`,
    `import { log } from "./log.js";`,
    // Names that only look like the forbidden globals.
    `const random = (seed: number) => seed * 7;`,
    `export class Clock { Date = 1; setTimeout(): void {} now(): number { return this.Date; } }`,
    `export function tick(process: { step(): void }, c: Clock, o: { Math: { random(): number } }): number {`,
    `  process.step(); c.setTimeout(); assert(true);`,
    `  const { Date: d } = { Date: 2 };`,
    `  return random(d) + o.Math.random() + c.now();`,
    `}`,
    `export type Stamp = Date;`,
    `export { raftpb, log };`,
  ].join("\n"),
  "packages/raft/src/log.ts": `export const log = 1;\n`,
  // Tests of raft may use what its code may not.
  "packages/raft/src/raft.test.ts": `import { it } from "vitest";\nit("x", async () => { await new Promise((r) => setTimeout(r, Date.now() % 2)); });\n`,
  "packages/raft/src/testing/net.ts": `export const seed = Math.random();\n`,
  "packages/wal/src/index.ts": `import { open } from "node:fs/promises";\nimport { raftpb } from "@etcd-ts/proto";\nexport { open, raftpb };\n`,
  "packages/backend/src/index.ts": `import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\nexport const b = require("rocksdb");\n`,
  "packages/mvcc/src/index.ts": `import { Backend } from "@etcd-ts/backend";\nimport type { mvccpb } from "@etcd-ts/proto";\nexport type { Backend, mvccpb };\n`,
  "packages/mvcc/src/kv.test.ts": `import { it } from "vitest";\nimport forge from "node-forge";\nit("x", () => forge);\n`,
  "packages/client/src/index.ts": `import * as grpc from "@grpc/grpc-js";\nimport { etcdserverpb } from "@etcd-ts/proto";\nexport { grpc, etcdserverpb };\n`,
  "apps/server/src/main.ts": `import { RawNode } from "@etcd-ts/raft";\nimport { KV } from "@etcd-ts/mvcc";\nimport { readFileSync } from "node:fs";\nsetTimeout(() => {}, Date.now());\nexport { RawNode, KV, readFileSync };\n`,
  "test-e2e/src/e2e.test.ts": `import { Client } from "@etcd-ts/client";\nimport { it } from "vitest";\nit("x", () => Client);\n`,
  "packages/lease/src/lessor.ts": `import { Backend } from "@etcd-ts/backend";\nexport type { Backend };\n`,
  "packages/auth/src/store.ts": `export const store = 1;\n`,
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** check writes the clean repository, plus `files` (replacing or adding), and checks it. */
function check(files: Record<string, string> = {}, pkgs: Record<string, Pkg> = {}): Violation[] {
  const root = mkdtempSync(join(tmpdir(), "boundaries-"));
  dirs.push(root);
  const write = (rel: string, text: string): void => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  const listed = ["packages/proto", "packages/raft", "packages/wal", "packages/backend", "packages/mvcc", "packages/grpc-server", "packages/client", "apps/*", "test-e2e"];
  write("package.json", JSON.stringify({ name: "root", private: true, workspaces: listed, devDependencies: { vitest: "^3", typescript: "~5.9" } }));
  const allPkgs: Record<string, Pkg> = {
    ...BASE,
    "packages/lease": lib("@etcd-ts/lease", { "@etcd-ts/backend": "0.1.0" }),
    "packages/auth": lib("@etcd-ts/auth"),
    ...pkgs,
  };
  for (const [dir, pkg] of Object.entries(allPkgs)) write(`${dir}/package.json`, JSON.stringify(pkg));
  for (const [rel, text] of Object.entries({ ...CLEAN, ...files })) write(rel, text);
  const r = checkRepo(root);
  expect(r.workspaces).toContain("packages/lease");
  expect(r.files).toBeGreaterThan(10);
  return r.violations;
}

/** brief is the violations' "file:line [rule] what" lines, for exact expectations. */
const brief = (vs: Violation[]): string[] => vs.map((v) => `${v.file}:${v.line} [${v.rule}] ${v.message.split(". ")[0]}`);

describe("checkRepo on a clean repository", () => {
  it("finds nothing: look-alike names, raft's tests and helpers, declared and dev imports are all fine", () => {
    expect(format(check())).toBe("");
  });
});

describe("raft", () => {
  it("may import only @etcd-ts/proto among packages", () => {
    const vs = check({
      "packages/raft/src/bad.ts": `import { KV } from "@etcd-ts/mvcc";\nimport * as g from "@grpc/grpc-js";\nexport { KV, g };\n`,
    });
    expect(brief(vs)).toEqual([
      'packages/raft/src/bad.ts:1 [only-imports] packages/raft may not import "@etcd-ts/mvcc"',
      'packages/raft/src/bad.ts:1 [undeclared] packages/raft imports "@etcd-ts/mvcc" but its package.json does not declare it in dependencies (DESIGN.md: every package declares every package it imports)',
      'packages/raft/src/bad.ts:2 [only-imports] packages/raft may not import "@grpc/grpc-js"',
      'packages/raft/src/bad.ts:2 [undeclared] packages/raft imports "@grpc/grpc-js" but its package.json does not declare it in dependencies (DESIGN.md: every package declares every package it imports)',
    ]);
  });

  it("may not import time, IO or randomness from Node, in any import form", () => {
    const vs = check({
      "packages/raft/src/bad.ts": [
        `import { readFileSync } from "node:fs";`,
        `import { setTimeout as sleep } from "node:timers/promises";`,
        `import { performance as p } from "perf_hooks";`,
        `export { connect } from "node:net";`,
        `import type { Http2Session } from "node:http2";`,
        `export const r = () => import("node:crypto");`,
        `export const c = require("child_process");`,
        `export type W = typeof import("node:worker_threads");`,
        `export { readFileSync, sleep, p };`,
        `export type { Http2Session };`,
      ].join("\n"),
    });
    expect(vs.filter((v) => v.rule === "only-imports").map((v) => `${v.line} ${v.message.split(". ")[0]}`)).toEqual([
      '1 packages/raft may not import "node:fs"',
      '2 packages/raft may not import "node:timers/promises"',
      '3 packages/raft may not import "perf_hooks"',
      '4 packages/raft may not import "node:net"',
      '5 packages/raft may not import "node:http2"',
      '6 packages/raft may not import "node:crypto"',
      '7 packages/raft may not import "child_process"',
      '8 packages/raft may not import "node:worker_threads"',
    ]);
  });

  it("may not use timers, clocks, Math.random or process", () => {
    const vs = check({
      "packages/raft/src/bad.ts": [
        /* 1 */ `export function f(): unknown[] {`,
        /* 2 */ `  setTimeout(() => {}, 1);`,
        /* 3 */ `  const i = setInterval(() => {}, 1);`,
        /* 4 */ `  setImmediate(() => {});`,
        /* 5 */ `  queueMicrotask(() => {});`,
        /* 6 */ `  const now = Date.now();`,
        /* 7 */ `  const d = new Date();`,
        /* 8 */ `  const t = performance.now();`,
        /* 9 */ `  const r = Math.random();`,
        /* 10 */ `  const e = process.env["X"];`,
        /* 11 */ `  const g = globalThis.setTimeout;`,
        /* 12 */ `  const m = Math["random"];`,
        /* 13 */ `  const o = { Date };`,
        /* 14 */ `  clearInterval(i);`,
        /* 15 */ `  return [now, d, t, r, e, g, m, o];`,
        /* 16 */ `}`,
      ].join("\n"),
    });
    expect(vs.map((v) => `${v.line} [${v.rule}] ${v.message.split(". ")[0]}`)).toEqual([
      "2 [forbidden-global] packages/raft may not use setTimeout",
      "3 [forbidden-global] packages/raft may not use setInterval",
      "4 [forbidden-global] packages/raft may not use setImmediate",
      "5 [forbidden-global] packages/raft may not use queueMicrotask",
      "6 [forbidden-global] packages/raft may not use Date",
      "7 [forbidden-global] packages/raft may not use Date",
      "8 [forbidden-global] packages/raft may not use performance",
      "9 [forbidden-global] packages/raft may not use Math.random",
      "10 [forbidden-global] packages/raft may not use process",
      "11 [forbidden-global] packages/raft may not use globalThis.setTimeout",
      "12 [forbidden-global] packages/raft may not use Math.random",
      "13 [forbidden-global] packages/raft may not use Date",
      "14 [forbidden-global] packages/raft may not use clearInterval",
    ]);
  });
});

describe("mvcc, lease and auth", () => {
  it.each(["packages/mvcc", "packages/lease", "packages/auth"])("%s may not import raft, gRPC, the gRPC server, the server or sockets", (dir) => {
    const vs = check({
      [`${dir}/src/bad.ts`]: [
        `import { RawNode } from "@etcd-ts/raft";`,
        `import * as grpc from "@grpc/grpc-js";`,
        `import { GrpcServer } from "@etcd-ts/grpc-server";`,
        `import { EtcdServer } from "@etcd-ts/server";`,
        `import { connect } from "node:http2";`,
        `export { RawNode, grpc, GrpcServer, EtcdServer, connect };`,
      ].join("\n"),
    });
    const got = vs.filter((v) => v.rule !== "undeclared").map((v) => `${v.line} [${v.rule}] ${v.message.replace(/[.:] .*$/, "")}`);
    expect(got).toEqual([
      `1 [forbidden-import] ${dir} may not import "@etcd-ts/raft"`,
      `2 [forbidden-import] ${dir} may not import "@grpc/grpc-js"`,
      `3 [forbidden-import] ${dir} may not import "@etcd-ts/grpc-server"`,
      `4 [app-import] ${dir} imports the app @etcd-ts/server`,
      `5 [forbidden-import] ${dir} may not import "node:http2"`,
    ]);
  });

  it("binds their tests too", () => {
    const vs = check(
      { "packages/mvcc/src/kv.test.ts": `import { RawNode } from "@etcd-ts/raft";\nexport { RawNode };\n` },
      { "packages/mvcc": lib("@etcd-ts/mvcc", { "@etcd-ts/proto": "0.1.0", "@etcd-ts/backend": "0.1.0" }, { "@etcd-ts/raft": "0.1.0" }) },
    );
    expect(brief(vs)).toEqual(['packages/mvcc/src/kv.test.ts:1 [forbidden-import] packages/mvcc may not import "@etcd-ts/raft"']);
  });
});

describe("every package", () => {
  it("wal may not import raft", () => {
    const vs = check({ "packages/wal/src/bad.ts": `export { RawNode } from "@etcd-ts/raft";\n` }, { "packages/wal": lib("@etcd-ts/wal", { "@etcd-ts/proto": "0.1.0", "@etcd-ts/raft": "0.1.0" }) });
    expect(brief(vs)).toEqual(['packages/wal/src/bad.ts:1 [forbidden-import] packages/wal may not import "@etcd-ts/raft"']);
  });

  it("no package imports an app, even when it declares it", () => {
    const vs = check(
      { "packages/client/src/bad.ts": `export { EtcdServer } from "@etcd-ts/server";\n`, "test-e2e/src/x.test.ts": `import "@etcd-ts/server";\n` },
      {
        "packages/client": lib("@etcd-ts/client", { "@etcd-ts/proto": "0.1.0", "@grpc/grpc-js": "^1", "@etcd-ts/server": "0.1.0" }),
        "test-e2e": { name: "@etcd-ts/test-e2e", private: true, dependencies: { "@etcd-ts/client": "0.1.0", "@etcd-ts/server": "0.1.0" } },
      },
    );
    expect(vs.map((v) => `${v.file}:${v.line} [${v.rule}]`)).toEqual(["packages/client/src/bad.ts:1 [app-import]", "test-e2e/src/x.test.ts:1 [app-import]"]);
  });

  it("no deep imports into another package's src or dist", () => {
    const vs = check({
      "apps/server/src/bad.ts": `import { x } from "@etcd-ts/raft/src/raft.js";\nimport type { y } from "@etcd-ts/mvcc/dist/index.js";\nexport { x, y };\n`,
    });
    expect(brief(vs)).toEqual([
      'apps/server/src/bad.ts:1 [deep-import] "@etcd-ts/raft/src/raft.js" reaches into packages/raft (its src or dist): import "@etcd-ts/raft" and use what it exports',
      'apps/server/src/bad.ts:2 [deep-import] "@etcd-ts/mvcc/dist/index.js" reaches into packages/mvcc (its src or dist): import "@etcd-ts/mvcc" and use what it exports',
    ]);
  });

  it("a subpath the target package exports is not a deep import", () => {
    const vs = check(
      { "apps/server/src/ok.ts": `export { x } from "@etcd-ts/mvcc/testing";\n` },
    );
    expect(brief(vs)).toEqual(['apps/server/src/ok.ts:1 [deep-import] "@etcd-ts/mvcc/testing" reaches into packages/mvcc (its src or dist): import "@etcd-ts/mvcc" and use what it exports']);
    const exported = check(
      { "apps/server/src/ok.ts": `export { x } from "@etcd-ts/mvcc/testing";\n` },
      { "packages/mvcc": { ...BASE["packages/mvcc"], name: "@etcd-ts/mvcc", exports: { ".": "./dist/index.js", "./testing": "./dist/testing.js" } } },
    );
    expect(format(exported)).toBe("");
  });

  it("no relative path out of the package root", () => {
    const vs = check({
      "apps/server/src/bad.ts": `import { RawNode } from "../../../packages/raft/src/index.js";\nexport * from "../../etcdctl/src/main.js";\nexport { RawNode };\n`,
      "packages/mvcc/src/ok.ts": `export * from "../src/index.js";\n`,
    });
    expect(brief(vs)).toEqual([
      'apps/server/src/bad.ts:1 [outside-package] "../../../packages/raft/src/index.js" reaches outside apps/server: import the other package by its name',
      'apps/server/src/bad.ts:2 [outside-package] "../../etcdctl/src/main.js" reaches outside apps/server: import the other package by its name',
    ]);
  });

  it("only the backend imports the RocksDB binding", () => {
    const vs = check({ "packages/mvcc/src/bad.ts": `export const b = require("rocksdb/binding.js");\n` });
    expect(vs.map((v) => `${v.line} [${v.rule}]`)).toEqual(["1 [forbidden-import]", "1 [undeclared]"]);
  });

  it("only tests use the private test-kit", () => {
    const vs = check(
      {
        "packages/client/src/testing/etcd.ts": `export { freePort } from "@etcd-ts/test-kit";\n`,
        "packages/client/src/dial.ts": `import { freePort } from "@etcd-ts/test-kit";\nexport { freePort };\n`,
      },
      { "packages/client": lib("@etcd-ts/client", { "@etcd-ts/proto": "0.1.0", "@grpc/grpc-js": "^1" }, { "@etcd-ts/test-kit": "0.1.0" }) },
    );
    expect(vs.map((v) => `${v.file}:${v.line} [${v.rule}]`)).toEqual(["packages/client/src/dial.ts:1 [forbidden-import]", "packages/client/src/dial.ts:1 [undeclared]"]);
  });

  it("declares in dependencies every package its code imports; tests may use devDependencies and the root's", () => {
    const vs = check({
      // node-forge is a devDependency of mvcc: not enough for its code.
      "packages/mvcc/src/cert.ts": `import forge from "node-forge";\nimport type { Tree } from "sorted-btree";\nexport { forge };\nexport type { Tree };\n`,
      // vitest is a root devDependency; yaml is declared nowhere.
      "packages/mvcc/src/testing/h.ts": `import { vi } from "vitest";\nimport YAML from "yaml";\nexport { vi, YAML };\n`,
      "packages/mvcc/vitest.config.ts": `import { defineConfig } from "vitest/config";\nexport default defineConfig({});\n`,
      // A test-only package: all of it is test code, bin-less and export-less.
      "test-e2e/src/harness/h.ts": `import { vi } from "vitest";\nimport forge from "node-forge";\nexport { vi, forge };\n`,
    });
    expect(vs.map((v) => `${v.file}:${v.line} [${v.rule}] ${v.message.split(" but ")[0]}`)).toEqual([
      'packages/mvcc/src/cert.ts:1 [undeclared] packages/mvcc imports "node-forge"',
      'packages/mvcc/src/cert.ts:2 [undeclared] packages/mvcc imports "sorted-btree"',
      'packages/mvcc/src/testing/h.ts:2 [undeclared] packages/mvcc imports "yaml" in test code',
      'test-e2e/src/harness/h.ts:2 [undeclared] test-e2e imports "node-forge" in test code',
    ]);
  });
});

describe("apps", () => {
  it("may declare the workspace packages they bundle (with scripts/bundle_app.mjs) as devDependencies, not other packages", () => {
    const files = {
      "apps/server/src/main.ts": `import { raftpb } from "@etcd-ts/proto";\nimport { x } from "@etcd-ts/mvcc";\nimport forge from "node-forge";\nexport { raftpb, x, forge };\n`,
    };
    const app = lib("@etcd-ts/server", { "@etcd-ts/mvcc": "0.1.0" }, { "@etcd-ts/proto": "0.1.0", "node-forge": "^1" });
    const bundled = check(files, { "apps/server": { ...app, scripts: { build: "tsc && node ../../scripts/bundle_app.mjs dist/index.js" } } });
    expect(bundled.map((v) => `${v.file}:${v.line} [${v.rule}] ${v.message.split(" but ")[0]}`)).toEqual([
      'apps/server/src/main.ts:3 [undeclared] apps/server imports "node-forge"',
    ]);
    // An app built without the bundler ships its imports as they are: each must be a dependency.
    const plain = check(files, { "apps/server": { ...app, scripts: { build: "tsc" } } });
    expect(plain.map((v) => `${v.file}:${v.line} [${v.rule}] ${v.message.split(" but ")[0]}`)).toEqual([
      'apps/server/src/main.ts:1 [undeclared] apps/server imports "@etcd-ts/proto"',
      'apps/server/src/main.ts:3 [undeclared] apps/server imports "node-forge"',
    ]);
  });
});

describe("this repository", () => {
  // Whether it keeps the boundaries is what `npm run boundaries` (part of `npm test`) tells;
  // here: the check does look at it.
  it("is looked at whole: every workspace, raft's code among it", () => {
    const r = checkRepo(REPO);
    expect(r.workspaces).toEqual(expect.arrayContaining(["packages/raft", "packages/mvcc", "packages/wal", "packages/proto", "apps/server", "apps/etcdctl", "test-e2e"]));
    expect(r.files).toBeGreaterThan(100);
  }, 60_000); // it parses every file of the repository: seconds on a loaded machine
});
