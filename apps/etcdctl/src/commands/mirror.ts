import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { WatchCanceledError, type Client } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, newClient, type ClientConfig } from "../ctl/global.js";
import { errorText, logAttemptFailure } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";

/** BATCH_LIMIT is the page size of the mirror's initial read (Go's mirror.batchLimit). */
const BATCH_LIMIT = 1000n;
/** PROGRESS_INTERVAL_MS is how often make-mirror prints how many keys it has mirrored. */
const PROGRESS_INTERVAL_MS = 30_000;

const ERR_COMPACTED = "etcdserver: mvcc: required revision has been compacted";

/** MirrorError ends make-mirror with "Error: <message>" and exit 1. */
class MirrorError extends Error {}

/**
 * replaceFirst is Go's strings.Replace(s, old, repl, 1) on bytes: the first occurrence of old
 * anywhere in s (an empty old matches at the start).
 */
export function replaceFirst(s: Buffer, old: Buffer, repl: Buffer): Buffer {
  const i = old.length === 0 ? 0 : s.indexOf(old);
  if (i < 0) return s;
  return Buffer.concat([s.subarray(0, i), repl, s.subarray(i + old.length)]);
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

interface MirrorFlags {
  prefix: Buffer;
  destPrefix: Buffer;
  noDestPrefix: boolean;
}

/**
 * makeMirror is etcdctl's makeMirror: copy every key under the prefix at one revision, then
 * replay the changes after it (the events of one revision in one txn), printing the number of
 * keys mirrored every 30 s. It runs until an error; the watch ending is returned as null.
 */
async function makeMirror(
  io: Io,
  c: Client,
  dc: Client,
  endpoints: { src: string[]; dest: string },
  f: MirrorFlags,
): Promise<Error | null> {
  let total = 0n;
  const ticker = setInterval(() => io.out(`${total}\n`), PROGRESS_INTERVAL_MS);
  const failedOn = (firstEndpoint: string) => (e: unknown): never => {
    if (!(e instanceof ExitError)) logAttemptFailure(io, { kind: "balanced", firstEndpoint }, e);
    throw e;
  };
  const unaryFailed = failedOn(endpoints.src[0] ?? "");
  const destFailed = failedOn(endpoints.dest);
  try {
    // The syncer reads "foo" for the revision to copy at, then checks the prefix flags.
    let baseErr: unknown;
    let rev = 0n;
    try {
      rev = (await c.range({ key: Buffer.from("foo") }).catch(unaryFailed)).header?.revision ?? 0n;
    } catch (e) {
      baseErr = e;
    }
    if (f.noDestPrefix && f.destPrefix.length > 0) {
      exitWithError(ExitCode.BadArgs, "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one");
    }
    const destPrefix = !f.noDestPrefix && f.destPrefix.length === 0 ? f.prefix : f.destPrefix;
    const modify = (key: Uint8Array): Buffer => replaceFirst(Buffer.from(key), f.prefix, destPrefix);
    if (baseErr !== undefined) throw baseErr;

    let key = f.prefix.length === 0 ? Buffer.from([0]) : f.prefix;
    const rangeEnd = f.prefix.length === 0 ? Buffer.from([0]) : prefixEnd(f.prefix);
    for (;;) {
      const resp = await c
        .range(etcdserverpb.RangeRequest.fromPartial({ key, rangeEnd, limit: BATCH_LIMIT, revision: rev }))
        .catch(unaryFailed);
      for (const kv of resp.kvs) {
        await dc.put({ key: modify(kv.key), value: kv.value }).catch(destFailed);
        total++;
      }
      if (!resp.more) break;
      const last = resp.kvs[resp.kvs.length - 1] as mvccpb.KeyValue;
      key = Buffer.concat([last.key, Buffer.from([0])]);
    }

    const w = c.watch(f.prefix, { prefix: true, startRevision: rev + 1n });
    try {
      for (;;) {
        let r: IteratorResult<etcdserverpb.WatchResponse>;
        try {
          r = await w.next();
        } catch (e) {
          if (e instanceof WatchCanceledError && e.compactRevision !== 0n) return new MirrorError(ERR_COMPACTED);
          // The Go watch channel closes after a cancel: makeMirror returns nil.
          return null;
        }
        if (r.done === true) return null;
        let lastRev = 0n;
        let ops: etcdserverpb.DeepPartial<etcdserverpb.RequestOp>[] = [];
        for (const ev of r.value.events) {
          const kv = ev.kv as mvccpb.KeyValue;
          const nextRev = kv.modRevision;
          if (lastRev !== 0n && nextRev > lastRev) {
            await dc.txn({ success: ops }).catch(destFailed);
            ops = [];
          }
          lastRev = nextRev;
          if (ev.type === mvccpb.Event_EventType.PUT) {
            ops.push({ requestPut: { key: modify(kv.key), value: kv.value } });
          } else {
            ops.push({ requestDeleteRange: { key: modify(kv.key) } });
          }
          total++;
        }
        if (ops.length > 0) await dc.txn({ success: ops }).catch(destFailed);
      }
    } finally {
      w.cancel();
    }
  } finally {
    clearInterval(ticker);
  }
}

export function makeMirrorCommand(io: Io): CommandSpec {
  return {
    use: "make-mirror [options] <destination>",
    short: "Makes a mirror at the destination etcd cluster",
    flags: [
      { name: "prefix", kind: "string", def: "", usage: "Key-value prefix to mirror" },
      {
        name: "dest-prefix", kind: "string", def: "",
        usage: "destination prefix to mirror a prefix to a different prefix in the destination cluster",
      },
      { name: "no-dest-prefix", kind: "bool", def: false, usage: "mirror key-values to the root of the destination cluster" },
      {
        name: "dest-cert", kind: "string", def: "",
        usage: "Identify secure client using this TLS certificate file for the destination cluster",
      },
      { name: "dest-key", kind: "string", def: "", usage: "Identify secure client using this TLS key file" },
      {
        name: "dest-cacert", kind: "string", def: "",
        usage: "Verify certificates of TLS enabled secure servers using this CA bundle",
      },
      {
        name: "dest-insecure-transport", kind: "bool", def: true,
        usage: "Disable transport security for client connections",
      },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "make-mirror takes one destination argument");
      const str = (n: string): string => cmd.flag(n).value as string;
      const ns = (n: string): number => (cmd.flag(n).value as number) / 1e6;
      // etcdctl reads the timeouts for the destination before applying ETCDCTL_* variables.
      const destCfg: Omit<ClientConfig, "printer"> = {
        endpoints: [args[0] as string],
        dialTimeoutMs: ns("dial-timeout"),
        commandTimeoutMs: ns("command-timeout"),
        keepAliveTimeMs: ns("keepalive-time"),
        keepAliveTimeoutMs: ns("keepalive-timeout"),
        secure: {
          cert: str("dest-cert"),
          key: str("dest-key"),
          cacert: str("dest-cacert"),
          insecureTransport: cmd.flag("dest-insecure-transport").value === true,
          insecureSkipVerify: false,
          serverName: "",
        },
      };
      const dc = await newClient(io, destCfg);
      let c: Client | undefined;
      try {
        const cfg = await clientConfig(cmd, io);
        c = await newClient(io, cfg);
        let err: unknown;
        try {
          err = await makeMirror(io, c, dc, { src: cfg.endpoints, dest: args[0] as string }, {
            prefix: Buffer.from(str("prefix")),
            destPrefix: Buffer.from(str("dest-prefix")),
            noDestPrefix: cmd.flag("no-dest-prefix").value === true,
          });
        } catch (e) {
          if (e instanceof ExitError) throw e;
          err = e;
        }
        exitWithError(ExitCode.Error, err === null ? "<nil>" : err instanceof MirrorError ? err.message : errorText(err));
      } finally {
        c?.close();
        dc.close();
      }
    },
  };
}
