import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, commandTimeout, newClient } from "../ctl/global.js";
import { errorText, logAttemptFailure } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { DEL_FLAGS, DEL_USE, GET_FLAGS, GET_USE, PUT_FLAGS, PUT_USE, delOp, getOp, putOp } from "../ctl/ops.js";
import { goQuote } from "../printer/goformat.js";
import { SimplePrinter } from "../printer/simple.js";

/** callFailed logs the Go client's attempt warning and exits 1 with etcdctl's error text. */
export function callFailed(io: Io, endpoints: string[], e: unknown): never {
  if (e instanceof ExitError) throw e;
  logAttemptFailure(io, { kind: "balanced", firstEndpoint: endpoints[0] ?? "" }, e);
  return exitWithError(ExitCode.Error, errorText(e));
}

export function getCommand(io: Io): CommandSpec {
  return {
    use: GET_USE,
    short: "Gets the key or a range of keys",
    flags: GET_FLAGS,
    run: async (cmd: Command, args: string[]) => {
      const req = getOp(cmd, args);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.range(req, commandTimeout(cmd)).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        if (cmd.flag("print-value-only").value === true) {
          if (!(cfg.printer instanceof SimplePrinter)) {
            exitWithError(ExitCode.BadArgs, "print-value-only is only for `--write-out=simple`");
          }
          cfg.printer.valueOnly = true;
        }
        cfg.printer.get(resp);
      } finally {
        c.close();
      }
    },
  };
}

export function putCommand(io: Io): CommandSpec {
  return {
    use: PUT_USE,
    short: "Puts the given key into the store",
    long: `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`,
    flags: PUT_FLAGS,
    run: async (cmd: Command, args: string[]) => {
      const req = await putOp(cmd, args, () => io.stdin.readAll());
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.put(req, commandTimeout(cmd)).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.put(resp);
      } finally {
        c.close();
      }
    },
  };
}

export function delCommand(io: Io): CommandSpec {
  return {
    use: DEL_USE,
    short: "Removes the specified key or range of keys [key, range_end)",
    flags: DEL_FLAGS,
    run: async (cmd: Command, args: string[]) => {
      const req = delOp(cmd, args);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c
          .deleteRange(req, commandTimeout(cmd))
          .catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.del(resp);
      } finally {
        c.close();
      }
    },
  };
}

export function compactionCommand(io: Io): CommandSpec {
  return {
    use: "compaction [options] <revision>",
    short: "Compacts the event history in etcd",
    flags: [
      {
        name: "physical", kind: "bool", def: false,
        usage: "'true' to wait for compaction to physically remove all old revisions",
      },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "compaction command needs 1 argument");
      const s = args[0] as string;
      if (!/^[+-]?[0-9]+$/.test(s)) exitWithError(ExitCode.Error, `strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
      const rev = BigInt(s);
      if (rev >= 1n << 63n || rev < -(1n << 63n)) {
        exitWithError(ExitCode.Error, `strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
      }
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        await c
          .compact({ revision: rev, physical: cmd.flag("physical").value === true }, commandTimeout(cmd))
          .catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        io.out(`compacted revision ${rev}\n`);
      } finally {
        c.close();
      }
    },
  };
}
