/**
 * DESIGN.md's "Who may import whom", as data. Each rule binds the workspaces it names (by
 * directory, relative to the repository root); a directory that does not exist yet is bound as
 * soon as it appears. Rules that hold for every workspace (no imports of apps, no deep imports
 * into another package, no relative paths out of the package, every import declared) are built
 * into the checker.
 */
export interface PackageRule {
  /** packages are workspace directories, "/"-separated; "*" binds every workspace. */
  packages: readonly string[];
  /** exceptPackages are workspaces a "*" rule does not bind. */
  exceptPackages?: readonly string[];
  /** reason is what DESIGN.md says, printed with each violation. */
  reason: string;
  /** scope "source" binds the shipped code only; "all" binds tests and test helpers too. */
  scope: "source" | "all";
  /** onlyPackages, when set, are the only non-builtin packages the code may import. */
  onlyPackages?: readonly string[];
  /** onlyBuiltins, when set, are the only Node builtin modules the code may import (names without "node:"). */
  onlyBuiltins?: readonly string[];
  /** forbiddenPackages are package names, or a whole scope as "@scope/*". */
  forbiddenPackages?: readonly string[];
  /** forbiddenBuiltins are Node builtin modules (names without "node:"); a name covers its subpaths ("fs" covers "fs/promises"). */
  forbiddenBuiltins?: readonly string[];
  /** forbiddenGlobals are global names the code may not reference (also as globalThis.X). */
  forbiddenGlobals?: readonly string[];
  /** forbiddenMembers are "Global.member" references the code may not make, e.g. "Math.random". */
  forbiddenMembers?: readonly string[];
}

/** SOCKETS are the builtins that open network connections. */
const SOCKETS = ["net", "tls", "http", "https", "http2", "dgram"];

export const RULES: readonly PackageRule[] = [
  {
    packages: ["packages/raft"],
    scope: "source",
    reason:
      "DESIGN.md: raft imports only proto. No timers, sockets, files, Date.now or Math.random inside: time enters as tick(), randomness through an injected source",
    onlyPackages: ["@etcd-ts/proto"],
    // Builtins with nothing of time, IO or randomness in them.
    onlyBuiltins: ["assert", "assert/strict", "buffer", "string_decoder", "util"],
    forbiddenGlobals: [
      "setTimeout",
      "setInterval",
      "setImmediate",
      "clearTimeout",
      "clearInterval",
      "clearImmediate",
      "queueMicrotask",
      "Date",
      "performance",
      "process",
      "crypto",
      "fetch",
      "require",
    ],
    forbiddenMembers: ["Math.random"],
  },
  {
    packages: ["packages/mvcc", "packages/lease", "packages/auth"],
    scope: "all",
    reason:
      "DESIGN.md: mvcc, lease, auth never import raft, gRPC or the server (apps/server alone owns sockets); where two of them meet, the consumer declares an interface and the server wires it",
    forbiddenPackages: ["@etcd-ts/raft", "@grpc/*", "@etcd-ts/grpc-server", "@etcd-ts/client"],
    forbiddenBuiltins: SOCKETS,
  },
  {
    packages: ["packages/wal"],
    scope: "all",
    reason: "DESIGN.md: wal stores entries, hard state and snapshot markers; it knows nothing of the algorithm",
    forbiddenPackages: ["@etcd-ts/raft"],
  },
  {
    packages: ["*"],
    exceptPackages: ["packages/backend"],
    scope: "all",
    reason: "DESIGN.md: backend is the only package that imports the RocksDB binding",
    forbiddenPackages: ["rocksdb"],
  },
  {
    packages: ["*"],
    // robustness is a private test tool (npm run robustness), never packed or installed elsewhere.
    exceptPackages: ["robustness"],
    scope: "source",
    reason: "DESIGN.md: test-kit is private, for test suites: shipped code that imports it would not install outside the workspace",
    forbiddenPackages: ["@etcd-ts/test-kit"],
  },
];
