import type { etcdserverpb } from "@etcd-ts/proto";
import { Command, find, type CommandSpec } from "../cli/command.js";
import { FlagError, HelpRequested } from "../cli/flags.js";
import { cobraDefaultUsage } from "../cli/usage.js";
import { clientConfig, newClient } from "../ctl/global.js";
import { ExitCode, ExitError, exitWithError, type Io, type LineReader } from "../ctl/io.js";
import { DEL_FLAGS, DEL_USE, GET_FLAGS, GET_USE, PUT_FLAGS, PUT_USE, delOp, getOp, putOp } from "../ctl/ops.js";
import { argify, parseCompare } from "../ctl/txnparse.js";
import { callFailed } from "./kv.js";

/**
 * readBlock parses trimmed lines up to the first empty one, each as soon as it is read; EOF
 * before the empty line is an error (exit 3), as in etcdctl.
 */
async function readBlock<T>(r: LineReader, parse: (line: string) => Promise<T>): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const { line, eof } = await r.readLine();
    if (eof) exitWithError(ExitCode.InvalidInput, "EOF");
    const t = line.trim();
    if (t === "") return items;
    items.push(await parse(t));
  }
}

async function compareLine(line: string): Promise<etcdserverpb.Compare> {
  try {
    return parseCompare(line);
  } catch (e) {
    if (e instanceof Error && e.constructor === Error) exitWithError(ExitCode.InvalidInput, e.message);
    throw e;
  }
}

/**
 * parseRequestOp is etcdctl's parseRequestUnion: a line is a get, put or del command line
 * (with their flags, prefix matching of the command name as in cobra).
 */
export async function parseRequestOp(io: Io, line: string): Promise<etcdserverpb.RequestOp> {
  const args = argify(line);
  if (args.length < 2) throw new ExitError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
  const invalid = (): ExitError => new ExitError(ExitCode.InvalidInput, `invalid txn request: ${line}`);
  const root = new Command({
    use: "",
    short: "",
    children: [
      { use: PUT_USE, short: "", flags: PUT_FLAGS, run: async () => {} },
      { use: GET_USE, short: "", flags: GET_FLAGS, run: async () => {} },
      { use: DEL_USE, short: "", flags: DEL_FLAGS, run: async () => {} },
    ],
  });
  const { cmd, args: rest } = find(root, args);
  if (cmd === root) throw invalid();
  let positional: string[];
  try {
    positional = cmd.flags().parse(rest);
  } catch (e) {
    if (e instanceof FlagError) {
      // etcdctl's request parser is a bare cobra command: it prints cobra's default usage.
      io.err(cobraDefaultUsage(cmd) + "\n");
      throw invalid();
    }
    if (e instanceof HelpRequested) throw invalid();
    throw e;
  }
  if (cmd.flag("help").value === true) throw invalid();
  switch (cmd.name) {
    case "put":
      // etcdctl's stdin is already consumed by the txn reader: nothing is left for a value.
      return { requestPut: await putOp(cmd, positional, async () => null) };
    case "get":
      return { requestRange: getOp(cmd, positional) };
    default:
      return { requestDeleteRange: delOp(cmd, positional) };
  }
}

export function txnCommand(io: Io): CommandSpec {
  return {
    use: "txn [options]",
    short: "Txn processes all the requests in one transaction",
    flags: [{ name: "interactive", shorthand: "i", kind: "bool", def: false, usage: "Input transaction in interactive mode" }],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 0) exitWithError(ExitCode.BadArgs, "txn command does not accept argument");
      const interactive = cmd.flag("interactive").value === true;
      const prompt = (s: string): void => {
        if (interactive) io.out(s + "\n");
      };
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        prompt("compares:");
        const compare = await readBlock(io.stdin, compareLine);
        prompt("success requests (get, put, del):");
        const success = await readBlock(io.stdin, (l) => parseRequestOp(io, l));
        prompt("failure requests (get, put, del):");
        const failure = await readBlock(io.stdin, (l) => parseRequestOp(io, l));
        // etcdctl commits the txn without a deadline.
        const resp = await c.txn({ compare, success, failure }).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.txn(resp);
      } finally {
        c.close();
      }
    },
  };
}
