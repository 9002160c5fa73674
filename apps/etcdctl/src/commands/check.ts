import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { channelCredentials, parseEndpoint } from "@etcd-ts/client";
import { checkKv, checkWatch, formatWitness, minimize, patchHistory, type History } from "@etcd-ts/linearizability";
import { etcdserverpb } from "@etcd-ts/proto";
import { Clock, endpointTarget, prefixEnd, recordPrefixRead, Rng, Watchers, Workload } from "@etcd-ts/recorder";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig } from "../ctl/global.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { clientTLS, TLSConfigError } from "../ctl/tls.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * checkLinearizabilityCommand is `etcdctl-ts check linearizability`, etcd-ts's own addition:
 * it runs a bounded workload against a live cluster — clients doing single-key puts, gets,
 * deletes and compare-and-swap txns on a key prefix of its own (through every endpoint in
 * turn), and watchers on that prefix — records every operation and watch response, deletes
 * the prefix, and checks the history: linearizability key by key (exact even while other
 * clients write other keys of the cluster) and etcd's watch guarantees. Exit code 0 when both
 * hold, 1 with the smallest failing history when not.
 */
export function checkLinearizabilityCommand(io: Io): CommandSpec {
  return {
    use: "linearizability [options]",
    extension: true,
    short: "Check that the cluster's answers to a mixed workload are linearizable and its watches keep their guarantees (etcd-ts)",
    flags: [
      { name: "duration", kind: "duration", def: 60_000_000_000, usage: "how long the workload runs" },
      { name: "clients", kind: "int64", def: 4n, usage: "concurrent clients (each runs one operation at a time)" },
      { name: "watchers", kind: "int64", def: 2n, usage: "watchers on the prefix" },
      { name: "keys", kind: "int64", def: 8n, usage: "distinct keys written" },
      { name: "prefix", kind: "string", def: "", usage: "key prefix the check uses and deletes afterwards (default: /etcdctl-check-linearizability/<random>/)" },
    ],
    run: async (cmd: Command) => {
      const cfg = await clientConfig(cmd, io);
      if (cfg.auth !== undefined) {
        exitWithError(ExitCode.BadArgs, "etcdctl-ts: check linearizability does not support authentication (--user, --password)");
      }
      const durationMs = (cmd.flag("duration").value as number) / 1e6;
      const clients = Number(cmd.flag("clients").value as bigint);
      const watchers = Number(cmd.flag("watchers").value as bigint);
      const keys = Number(cmd.flag("keys").value as bigint);
      if (durationMs <= 0 || clients < 1 || clients > 64 || watchers < 0 || watchers > 16 || keys < 1 || keys > 1000) {
        exitWithError(ExitCode.BadArgs, "check linearizability: --duration > 0, --clients 1..64, --watchers 0..16, --keys 1..1000");
      }
      let prefix = cmd.flag("prefix").value as string;
      if (prefix === "") prefix = `/etcdctl-check-linearizability/${randomBytes(6).toString("hex")}/`;
      let credentials: grpc.ChannelCredentials;
      try {
        credentials = channelCredentials(parseEndpoint(cfg.endpoints[0] ?? ""), clientTLS(cfg.secure));
      } catch (e) {
        return exitWithError(e instanceof TLSConfigError ? ExitCode.BadArgs : ExitCode.BadConnection, (e as Error).message);
      }
      const endpoints = cfg.endpoints;
      const clock = new Clock();
      const read = { endpoints, prefix, credentials, timeoutMs: cfg.commandTimeoutMs };
      const first = await recordPrefixRead(read, clock).catch((e: unknown) => exitWithError(ExitCode.Error, (e as Error).message));
      if (first.output?.type !== "range" || first.output.count !== 0) {
        exitWithError(ExitCode.Error, `check linearizability: prefix ${prefix} is not empty; pick another with --prefix`);
      }
      const startRevision = first.output.revision + 1;
      io.err(`checking ${endpoints.join(",")} for ${durationMs / 1000} s: ${clients} clients, ${watchers} watchers, ${keys} keys under ${prefix}\n`);
      const w = new Watchers({ endpoints, watchers, prefix, startRevision, credentials }, clock);
      w.start();
      const workload = new Workload({ endpoints, credentials, clients, keys, prefix, opTimeoutMs: cfg.commandTimeoutMs, leases: false, txn: true, mix: "single-key" }, clock, new Rng(Date.now() >>> 0));
      const running = workload.run();
      await sleep(durationMs);
      workload.stop();
      await running;
      workload.close();
      const last = await recordPrefixRead(read, clock).catch((e: unknown) => exitWithError(ExitCode.Error, (e as Error).message));
      // The watchers must reach the last revision that wrote under the prefix (the cluster's
      // revision may be further on, moved by other clients' writes they do not see).
      const finalKvs = last.output?.type === "range" ? last.output.kvs : [];
      const finalRevision = Math.max(workload.lastWriteRevision, ...finalKvs.map((kv) => kv.modRevision));
      const until = Date.now() + cfg.commandTimeoutMs;
      while (!w.caughtUp(finalRevision) && Date.now() < until) await sleep(100);
      const caughtUp = w.caughtUp(finalRevision);
      w.stop();
      await deletePrefix(endpoints, prefix, credentials, cfg.commandTimeoutMs).catch((e: unknown) => io.err(`warning: could not delete ${prefix}: ${(e as Error).message}\n`));

      const history: History = { operations: [first, ...workload.operations, last], watches: w.watches };
      const patched = patchHistory(history);
      const kv = checkKv(patched.operations, { full: false, timeoutMs: 120_000 });
      const watch = checkWatch(patched);
      const s = workload.stats;
      io.out(`operations: ${s.ok} ok, ${s.unknown} of unknown outcome, ${s.failedReads} failed reads, ${s.notSent} not sent (no connection)\n`);
      io.out(`linearizable: ${kv.verdict === "ok" ? "yes" : kv.verdict === "illegal" ? "NO" : "unknown (the check ran out of time)"}\n`);
      const watchOk = watch.ok && caughtUp;
      io.out(`watch guarantees: ${watchOk ? "kept" : "BROKEN"} (${w.watches.length} watches, ${watch.events.length} events)\n`);
      for (const v of watch.violations.slice(0, 10)) io.out(`  ${v.kind}: ${v.message}\n`);
      if (!caughtUp) io.out(`  reliable: the watchers did not reach revision ${finalRevision}\n`);
      if (kv.verdict === "illegal") {
        const small = minimize(patched.operations, { timeoutMs: 60_000 });
        io.out(`smallest failing history:\n${formatWitness(small)}\n`);
      }
      if (kv.verdict !== "ok" || !watchOk) exitWithError(ExitCode.Error, "check linearizability: FAILED");
      io.out("PASS\n");
    },
  };
}

/** deletePrefix removes every key the check wrote. */
async function deletePrefix(endpoints: readonly string[], prefix: string, credentials: grpc.ChannelCredentials, timeoutMs: number): Promise<void> {
  let last: unknown;
  for (const e of endpoints) {
    const kv = new etcdserverpb.KVClient(endpointTarget(e), credentials);
    try {
      await new Promise<void>((resolve, reject) =>
        kv.deleteRange(
          etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from(prefix), rangeEnd: Buffer.from(prefixEnd(prefix), "latin1") }),
          new grpc.Metadata(),
          { deadline: Date.now() + timeoutMs },
          (err) => (err ? reject(err) : resolve()),
        ),
      );
      return;
    } catch (err) {
      last = err;
    } finally {
      kv.close();
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}
