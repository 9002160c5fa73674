import { open, rename, rm } from "node:fs/promises";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, initDisplay, newClient } from "../ctl/global.js";
import { errorText, zapString, zapTime } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { goPathError, snapshotStatus } from "../ctl/snapshot_status.js";
import { humanizeBytes } from "../printer/goformat.js";

/** SHA256_SIZE is the size of the digest Maintenance.Snapshot sends after the image. */
export const SHA256_SIZE = 32;

/** hasChecksum tells, as etcd does, whether a file of `size` bytes ends with the SHA-256 trailer (bbolt files are multiples of 512). */
export function hasChecksum(size: number): boolean {
  return size % 512 === SHA256_SIZE;
}

/**
 * zapLine writes one line of etcdctl's zap production logger (JSON, epoch seconds as a
 * float) on stderr; `iso` uses clientv3's logger instead (ISO time), as the lines
 * `snapshot save` prints come from both.
 */
export function zapLine(io: Io, caller: string, msg: string, fields: Record<string, string | number | readonly string[]>, iso = false): void {
  const now = io.now();
  const ts = iso ? `"${zapTime(now)}"` : String(now.getTime() / 1000);
  let line = `{"level":"info","ts":${ts},"caller":"${caller}","msg":${zapString(msg)}`;
  for (const [k, v] of Object.entries(fields)) {
    const text = typeof v === "number" ? String(v) : typeof v === "string" ? zapString(v) : `[${v.map(zapString).join(",")}]`;
    line += `,"${k}":${text}`;
  }
  io.err(`${line}}\n`);
}

/**
 * snapshotSaveCommand is `etcdctl snapshot save <filename>`: Maintenance.Snapshot from the one
 * endpoint given, written to <filename>.part (mode 0600), checked for the SHA-256 trailer,
 * fsync'ed and renamed into place, with etcdctl 3.4's log lines and exit codes. Without an
 * explicit --command-timeout the transfer has no deadline, as in etcdctl.
 */
export function snapshotSaveCommand(io: Io): CommandSpec {
  return {
    use: "save <filename>",
    short: "Stores an etcd node backend snapshot to a given file",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "snapshot save expects one argument");
      const path = args[0] as string;
      const cfg = await clientConfig(cmd, io);
      if (cfg.endpoints.length !== 1) {
        exitWithError(ExitCode.Interrupted, `snapshot must be requested to one selected node, not multiple [${cfg.endpoints.join(" ")}]`);
      }
      const ep = cfg.endpoints[0] as string;
      const timeout = cmd.flag("command-timeout").changed ? { timeoutMs: cfg.commandTimeoutMs } : {};
      // As etcdctl, the client is made before the part file, so a client that cannot be made
      // leaves no file behind.
      const c = await newClient(io, cfg, [ep]);
      const part = `${path}.part`;
      let fh;
      try {
        fh = await open(part, "w", 0o600);
      } catch (e) {
        c.close();
        return exitWithError(ExitCode.Interrupted, `could not open ${part} (${goPathError("open", part, e)})`);
      }
      zapLine(io, "snapshot/v3_snapshot.go:119", "created temporary db file", { path: part });
      const start = Date.now();
      let size = 0;
      try {
        zapLine(io, "clientv3/maintenance.go:200", "opened snapshot stream; downloading", {}, true);
        zapLine(io, "snapshot/v3_snapshot.go:127", "fetching snapshot", { endpoint: ep });
        for await (const chunk of c.maintenance.snapshot(ep, timeout)) {
          for (let off = 0; off < chunk.length; ) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, size + off);
            off += bytesWritten;
          }
          size += chunk.length;
        }
        zapLine(io, "clientv3/maintenance.go:208", "completed snapshot read; closing", {}, true);
        if (!hasChecksum(size)) throw new Error(`sha256 checksum not found [bytes: ${size}]`);
        await fh.sync();
        await fh.close();
        fh = undefined;
        zapLine(io, "snapshot/v3_snapshot.go:142", "fetched snapshot", { endpoint: ep, size: humanizeBytes(size), took: (Date.now() - start) / 1000 });
        try {
          await rename(part, path);
        } catch (e) {
          throw new Error(`could not rename ${part} to ${path} (${goPathError("rename", `${part} ${path}`, e)})`);
        }
        zapLine(io, "snapshot/v3_snapshot.go:152", "saved", { path });
      } catch (e) {
        if (e instanceof ExitError) throw e;
        return exitWithError(ExitCode.Interrupted, errorText(e));
      } finally {
        await fh?.close();
        await rm(part, { force: true });
        c.close();
      }
      io.out(`Snapshot saved at ${path}\n`);
    },
  };
}

/** snapshotStatusCommand is `etcdctl snapshot status <filename>`: hash, revision, keys and size of a snapshot file, in any -w format but protobuf. */
export function snapshotStatusCommand(io: Io): CommandSpec {
  return {
    use: "status <filename>",
    short: "Gets backend snapshot status of a given file",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "snapshot status requires exactly one argument");
      const printer = initDisplay(cmd, io);
      let st;
      try {
        st = await snapshotStatus(args[0] as string);
      } catch (e) {
        return exitWithError(ExitCode.Error, (e as Error)?.message ?? String(e));
      }
      printer.dbStatus(st);
    },
  };
}
