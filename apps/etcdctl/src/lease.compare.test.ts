import { Client } from "@etcd-ts/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseNames } from "./testing/leases.js";
import { afterDelay, spawnCtl } from "./testing/proc.js";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { serverFromEnv, startTwins, type RunningServer } from "./testing/server.js";

/**
 * Differential suite for `lease` and `put --lease`: every case runs through the Go etcdctl
 * (against twin A) and etcdctl-ts (against twin B); both must print the same bytes and exit
 * with the same code. Leases the test creates have the same IDs on both twins; IDs the
 * servers choose (lease grant) are masked, and remaining TTLs where they tick.
 */
interface Case {
  args: string[];
  /** ttl masks remaining TTLs (they tick between the two runs). */
  ttl?: boolean;
}

/**
 * sortAttachedKeys orders the attached keys of `timetolive --keys`: etcd lists them in Go map
 * order, which differs from run to run (and between twins).
 */
function sortAttachedKeys(out: string): string {
  return out
    .replace(/attached keys\(\[([^\]]*)\]\)/, (_m, ks: string) => `attached keys([${ks.split(" ").sort().join(" ")}])`)
    .replace(/"keys":\[([^\]]*)\]/, (_m, ks: string) => `"keys":[${ks.split(",").sort().join(",")}]`)
    .replace(/("Key" : .*\n)+/, (m) => m.split("\n").filter((l) => l !== "").sort().map((l) => l + "\n").join(""));
}

/** Leases created on both twins with the test's IDs. */
const L_KEYS = 0x1000n; // TTL 500, keys lk1 and lk2 attached
const L_PLAIN = 0x2000n; // TTL 600, no keys
const L_REVOKE = [0x3001n, 0x3002n, 0x3003n, 0x3004n, 0x3005n, 0x3006n]; // TTL 600, one per revoke case
const L_KEEP = 0x4000n; // TTL 9, for keep-alive
const L_KEEP_JSON = 0x4001n; // TTL 9, for keep-alive -w json
const hex = (id: bigint): string => id.toString(16);

const CASES: Case[] = [
  // help and arguments
  { args: ["lease"] },
  { args: ["lease", "--help"] },
  { args: ["lease", "grant", "--help"] },
  { args: ["lease", "timetolive", "-h"] },
  { args: ["lease", "keep-alive", "--help"] },
  { args: ["lease", "nosuch"] },
  { args: ["lease", "grant"] },
  { args: ["lease", "grant", "1", "2"] },
  { args: ["lease", "grant", "ten"] },
  { args: ["lease", "grant", "0x10"] },
  { args: ["lease", "grant", "99999999999999999999"] },
  { args: ["lease", "revoke"] },
  { args: ["lease", "revoke", "xyz"] },
  { args: ["lease", "revoke", "8000000000000000"] },
  { args: ["lease", "timetolive"] },
  { args: ["lease", "timetolive", "zz"] },
  { args: ["lease", "timetolive", "zz", "-w", "bogus"] },
  { args: ["lease", "keep-alive"] },
  { args: ["lease", "keep-alive", "q", "--once"] },
  { args: ["lease", "list", "extra", "-w", "bogus"] },
  // grant (server-chosen IDs, masked)
  { args: ["lease", "grant", "100"] },
  { args: ["lease", "grant", "100", "-w", "json"] },
  { args: ["lease", "grant", "100", "-w", "fields"] },
  { args: ["lease", "grant", "100", "-w", "protobuf"] },
  { args: ["lease", "grant", "100", "-w", "table"] },
  { args: ["lease", "grant", "100", "--hex"] },
  { args: ["lease", "grant", "99999999999"] },
  // list
  { args: ["lease", "list"] },
  { args: ["lease", "list", "-w", "json"] },
  { args: ["lease", "list", "-w", "fields"] },
  { args: ["lease", "list", "-w", "protobuf"] },
  { args: ["lease", "list", "-w", "table"] },
  // timetolive
  { args: ["lease", "timetolive", hex(L_KEYS)], ttl: true },
  { args: ["lease", "timetolive", hex(L_KEYS), "--keys"], ttl: true },
  { args: ["lease", "timetolive", hex(L_KEYS), "-w", "json"], ttl: true },
  { args: ["lease", "timetolive", hex(L_KEYS), "--keys", "-w", "json"], ttl: true },
  { args: ["lease", "timetolive", hex(L_PLAIN), "--keys", "-w", "json"], ttl: true },
  { args: ["lease", "timetolive", hex(L_KEYS), "--keys", "-w", "fields"], ttl: true },
  { args: ["lease", "timetolive", hex(L_KEYS), "-w", "protobuf"] },
  { args: ["lease", "timetolive", hex(L_KEYS), "-w", "table"] },
  { args: ["lease", "timetolive", hex(L_PLAIN), "--keys"], ttl: true },
  { args: ["lease", "timetolive", "1234"] },
  { args: ["lease", "timetolive", "1234", "--keys", "-w", "json"] },
  { args: ["lease", "timetolive", "1234", "-w", "fields"] },
  { args: ["lease", "timetolive", "--", "-1"] },
  { args: ["lease", "timetolive", "+1000"], ttl: true },
  // keep-alive --once
  { args: ["lease", "keep-alive", "--once", hex(L_PLAIN)] },
  { args: ["lease", "keep-alive", "--once", hex(L_PLAIN), "-w", "json"] },
  { args: ["lease", "keep-alive", "--once", hex(L_PLAIN), "-w", "fields"] },
  { args: ["lease", "keep-alive", "--once", hex(L_PLAIN), "-w", "protobuf"] },
  { args: ["lease", "keep-alive", "--once", hex(L_PLAIN), "-w", "table"] },
  { args: ["lease", "keep-alive", "--once", "1234"] },
  { args: ["lease", "keep-alive", "1234"] },
  { args: ["lease", "keep-alive", "1234", "-w", "json"] },
  // put with leases
  { args: ["put", "withlease", "v", "--lease", hex(L_PLAIN)] },
  { args: ["put", "withlease", "v2", "--ignore-lease", "--prev-kv", "-w", "json"] },
  { args: ["put", "withlease", "--ignore-value", "--ignore-lease", "-w", "fields"] },
  { args: ["get", "withlease", "-w", "json"] },
  { args: ["put", "withlease", "v3", "--lease", "1234"] },
  { args: ["put", "nolease", "v", "--ignore-lease"] },
  { args: ["put", "withlease", "v", "--lease", hex(L_PLAIN), "--ignore-lease"] },
  { args: ["lease", "timetolive", hex(L_PLAIN), "--keys"], ttl: true },
  // revoke
  { args: ["lease", "revoke", hex(L_REVOKE[0]!)] },
  { args: ["lease", "revoke", hex(L_REVOKE[1]!), "-w", "json"] },
  { args: ["lease", "revoke", hex(L_REVOKE[2]!), "-w", "fields"] },
  { args: ["lease", "revoke", hex(L_REVOKE[3]!), "-w", "protobuf"] },
  { args: ["lease", "revoke", hex(L_REVOKE[4]!), "-w", "table"] },
  { args: ["lease", "revoke", hex(L_REVOKE[5]!), "-w", "json"] },
  { args: ["get", "rk", "--prefix", "-w", "json"] },
  { args: ["lease", "revoke", hex(L_REVOKE[0]!)] },
  { args: ["lease", "timetolive", hex(L_REVOKE[0]!), "--keys"] },
  { args: ["lease", "revoke", "1234", "-w", "json"] },
  // A TTL below the minimum (2 s by default) is raised to it: these leases expire soon, so
  // they come last (a list could catch one twin's and not the other's).
  { args: ["lease", "grant", "0"] },
  { args: ["lease", "grant", "-w", "json", "--", "-5"] },
];

describe("etcdctl-ts lease commands print what etcdctl 3.4 prints", () => {
  let a: RunningServer;
  let b: RunningServer;
  let namesA: LeaseNames;
  let namesB: LeaseNames;
  beforeAll(async () => {
    [a, b] = await startTwins(serverFromEnv());
    namesA = new LeaseNames(a.endpoint);
    namesB = new LeaseNames(b.endpoint);
    for (const s of [a, b]) {
      const c = new Client({ endpoints: [s.endpoint] });
      try {
        await c.lease.grant(500, { id: L_KEYS });
        await c.put({ key: Buffer.from("lk1"), value: Buffer.from("1"), lease: L_KEYS });
        await c.put({ key: Buffer.from("lk2"), value: Buffer.from("2"), lease: L_KEYS });
        await c.lease.grant(600, { id: L_PLAIN });
        for (const id of L_REVOKE) await c.lease.grant(600, { id });
        await c.put({ key: Buffer.from("rk1"), value: Buffer.from("x"), lease: L_REVOKE[5]! });
        await c.put({ key: Buffer.from("rk2"), value: Buffer.from("y"), lease: L_REVOKE[5]! });
      } finally {
        c.close();
      }
    }
    const fixed = [L_KEYS, L_PLAIN, ...L_REVOKE, L_KEEP, L_KEEP_JSON];
    namesA.fixed(...fixed);
    namesB.fixed(...fixed);
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  const normalize = (r: CtlResult, names: LeaseNames, c: Case): { code: number | null; stdout: string; stderr: string } => {
    let stdout = sortAttachedKeys(names.mask(r.stdout.toString("latin1")));
    if (c.ttl === true) {
      stdout = stdout
        .replace(/remaining\(-?\d+s\)/g, "remaining(Ts)")
        .replace(/"ttl":-?\d+/g, '"ttl":T')
        .replace(/"TTL" : -?\d+/g, '"TTL" : T');
    }
    return { code: r.code, stdout, stderr: normalizeStderr(r.stderr.toString("latin1"), [a.endpoint, b.endpoint]) };
  };

  for (const c of CASES) {
    it(c.args.join(" "), async () => {
      const [real, ours] = await Promise.all([
        runCtl(REAL_ETCDCTL, c.args, { ETCDCTL_ENDPOINTS: a.endpoint }),
        runCtl(ETCDCTL_TS, c.args, { ETCDCTL_ENDPOINTS: b.endpoint }),
      ]);
      await Promise.all([namesA.learn(), namesB.learn()]);
      expect(normalize(ours, namesB, c)).toEqual(normalize(real, namesA, c));
    });
  }

  for (const format of ["simple", "json"]) {
    it(`lease keep-alive -w ${format} renews until the lease is revoked`, async () => {
      const id = format === "simple" ? L_KEEP : L_KEEP_JSON;
      for (const s of [a, b]) {
        const c = new Client({ endpoints: [s.endpoint] });
        await c.lease.grant(9, { id }).finally(() => c.close());
      }
      const args = ["lease", "keep-alive", hex(id), "-w", format];
      const real = spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint });
      const ours = spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint });
      try {
        // The first renewal goes out at once; the next one after TTL/3 = 3 s finds the lease gone.
        await Promise.all([real, ours].map((p) => p.waitFor((o) => o.includes("\n"), 15_000, "a keep-alive")));
        for (const s of [a, b]) {
          const c = new Client({ endpoints: [s.endpoint] });
          await c.lease.revoke(id).finally(() => c.close());
        }
        const [er, eo] = await Promise.all([real.exitedWithin(15_000), ours.exitedWithin(15_000)]);
        expect({ exit: eo, stdout: ours.stdout().toString("latin1"), stderr: ours.stderr().toString("latin1") }).toEqual({
          exit: er,
          stdout: real.stdout().toString("latin1"),
          stderr: real.stderr().toString("latin1"),
        });
        expect(eo).toEqual({ code: 0, signal: null });
      } finally {
        await Promise.all([real.stop("SIGKILL"), ours.stop("SIGKILL")]);
      }
    }, 40_000);
  }

  it("lease keep-alive keeps renewing while the lease exists", async () => {
    for (const s of [a, b]) {
      const c = new Client({ endpoints: [s.endpoint] });
      await c.lease.grant(3, { id: 0x5000n }).finally(() => c.close());
    }
    const args = ["lease", "keep-alive", "5000"];
    const real = spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint });
    const ours = spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint });
    try {
      // TTL 3: a renewal about every second; after 5 s both have renewed several times.
      const line = "lease 0000000000005000 keepalived with TTL(3)\n";
      await Promise.all([real, ours].map((p) => p.waitFor((o) => o.split(line).length - 1 >= 4, 15_000, "four renewals")));
      await afterDelay(100);
      for (const p of [real, ours]) {
        const out = p.stdout().toString();
        expect(out.replace(new RegExp(line.replace(/[()]/g, "\\$&"), "g"), "")).toBe("");
      }
    } finally {
      const [er, eo] = await Promise.all([real.stop(), ours.stop()]);
      expect(eo).toEqual(er);
    }
  }, 40_000);
});
