import { etcdserverpb } from "@etcd-ts/proto";
import type { Command } from "../cli/command.js";
import { parseInt64, type FlagDef } from "../cli/flags.js";
import { goQuote } from "../printer/goformat.js";
import { ExitCode, exitWithError } from "./io.js";

const { RangeRequest_SortOrder: SortOrder, RangeRequest_SortTarget: SortTarget } = etcdserverpb;

/** prefixEnd is clientv3's getPrefix: the smallest key greater than every key with prefix key. */
export function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

const flagBool = (cmd: Command, name: string): boolean => cmd.flag(name).value as boolean;
const flagString = (cmd: Command, name: string): string => cmd.flag(name).value as string;
const flagInt = (cmd: Command, name: string): bigint => cmd.flag(name).value as bigint;

/** GET_USE, PUT_USE and DEL_USE are the cobra Use lines of get, put and del. */
export const GET_USE = "get [options] <key> [range_end]";
export const PUT_USE = "put [options] <key> <value> (<value> can also be given from stdin)";
export const DEL_USE = "del [options] <key> [range_end]";

/** GET_FLAGS, PUT_FLAGS and DEL_FLAGS are the local flags of etcdctl 3.4's get, put and del. */
export const GET_FLAGS: FlagDef[] = [
  { name: "consistency", kind: "string", def: "l", usage: "Linearizable(l) or Serializable(s)" },
  { name: "order", kind: "string", def: "", usage: "Order of results; ASCEND or DESCEND (ASCEND by default)" },
  { name: "sort-by", kind: "string", def: "", usage: "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION" },
  { name: "limit", kind: "int64", def: 0n, usage: "Maximum number of results" },
  { name: "prefix", kind: "bool", def: false, usage: "Get keys with matching prefix" },
  {
    name: "from-key", kind: "bool", def: false,
    usage: "Get keys that are greater than or equal to the given key using byte compare",
  },
  { name: "rev", kind: "int64", def: 0n, usage: "Specify the kv revision" },
  { name: "keys-only", kind: "bool", def: false, usage: "Get only the keys" },
  { name: "print-value-only", kind: "bool", def: false, usage: 'Only write values when using the "simple" output format' },
];

export const PUT_FLAGS: FlagDef[] = [
  { name: "lease", kind: "string", def: "0", usage: "lease ID (in hexadecimal) to attach to the key" },
  { name: "prev-kv", kind: "bool", def: false, usage: "return the previous key-value pair before modification" },
  { name: "ignore-value", kind: "bool", def: false, usage: "updates the key using its current value" },
  { name: "ignore-lease", kind: "bool", def: false, usage: "updates the key using its current lease" },
];

export const DEL_FLAGS: FlagDef[] = [
  { name: "prefix", kind: "bool", def: false, usage: "delete keys with matching prefix" },
  { name: "prev-kv", kind: "bool", def: false, usage: "return deleted key-value pairs" },
  {
    name: "from-key", kind: "bool", def: false,
    usage: "delete keys that are greater than or equal to the given key using byte compare",
  },
];

/** getOp is etcdctl's getGetOp: the RangeRequest for `get` args and flags (exits on bad input). */
export function getOp(cmd: Command, args: string[]): etcdserverpb.RangeRequest {
  if (args.length === 0) {
    exitWithError(ExitCode.BadArgs, "get command needs one argument as key and an optional argument as range_end");
  }
  const prefix = flagBool(cmd, "prefix");
  const fromKey = flagBool(cmd, "from-key");
  if (prefix && fromKey) {
    exitWithError(ExitCode.BadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  const req = etcdserverpb.RangeRequest.create();
  const consistency = flagString(cmd, "consistency");
  if (consistency === "s") req.serializable = true;
  else if (consistency !== "l") exitWithError(ExitCode.BadFeature, `unknown consistency flag ${goQuote(consistency)}`);

  req.key = Buffer.from(args[0] as string);
  if (args.length > 1) {
    if (prefix || fromKey) {
      exitWithError(ExitCode.BadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
    }
    req.rangeEnd = Buffer.from(args[1] as string);
  }
  req.limit = flagInt(cmd, "limit");
  const rev = flagInt(cmd, "rev");
  if (rev > 0n) req.revision = rev;

  const orderFlag = flagString(cmd, "order");
  let order = SortOrder.NONE;
  switch (orderFlag.toUpperCase()) {
    case "ASCEND": order = SortOrder.ASCEND; break;
    case "DESCEND": order = SortOrder.DESCEND; break;
    case "": break;
    default: exitWithError(ExitCode.BadFeature, `bad sort order ${orderFlag}`);
  }
  const targetFlag = flagString(cmd, "sort-by");
  let target = SortTarget.KEY;
  switch (targetFlag.toUpperCase()) {
    case "CREATE": target = SortTarget.CREATE; break;
    case "KEY": target = SortTarget.KEY; break;
    case "MODIFY": target = SortTarget.MOD; break;
    case "VALUE": target = SortTarget.VALUE; break;
    case "VERSION": target = SortTarget.VERSION; break;
    case "": break;
    default: exitWithError(ExitCode.BadFeature, `bad sort target ${targetFlag}`);
  }
  // clientv3.WithSort: keys already come back in ascending key order.
  if (target === SortTarget.KEY && order === SortOrder.ASCEND) order = SortOrder.NONE;
  req.sortOrder = order;
  req.sortTarget = target;

  if (prefix) {
    if (req.key.length === 0) {
      req.key = Buffer.from([0]);
      req.rangeEnd = Buffer.from([0]);
    } else {
      req.rangeEnd = prefixEnd(req.key);
    }
  }
  if (fromKey) {
    if (req.key.length === 0) req.key = Buffer.from([0]);
    req.rangeEnd = Buffer.from([0]);
  }
  if (flagBool(cmd, "keys-only")) req.keysOnly = true;
  return req;
}

/** delOp is etcdctl's getDelOp. */
export function delOp(cmd: Command, args: string[]): etcdserverpb.DeleteRangeRequest {
  if (args.length === 0 || args.length > 2) {
    exitWithError(ExitCode.BadArgs, "del command needs one argument as key and an optional argument as range_end");
  }
  const prefix = flagBool(cmd, "prefix");
  const fromKey = flagBool(cmd, "from-key");
  if (prefix && fromKey) {
    exitWithError(ExitCode.BadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  const req = etcdserverpb.DeleteRangeRequest.create();
  req.key = Buffer.from(args[0] as string);
  if (args.length > 1) {
    if (prefix || fromKey) {
      exitWithError(ExitCode.BadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
    }
    req.rangeEnd = Buffer.from(args[1] as string);
  }
  if (prefix) {
    if (req.key.length === 0) {
      req.key = Buffer.from([0]);
      req.rangeEnd = Buffer.from([0]);
    } else {
      req.rangeEnd = prefixEnd(req.key);
    }
  }
  if (flagBool(cmd, "prev-kv")) req.prevKv = true;
  if (fromKey) {
    if (req.key.length === 0) req.key = Buffer.from([0]);
    req.rangeEnd = Buffer.from([0]);
  }
  return req;
}

const PUT_USAGE = "put command needs 1 argument and input from stdin or 2 arguments";

/**
 * putOp is etcdctl's getPutOp. readStdin supplies the value when no value argument is given
 * (null: nothing to read).
 */
export async function putOp(
  cmd: Command,
  args: string[],
  readStdin: () => Promise<Buffer | null>,
): Promise<etcdserverpb.PutRequest> {
  if (args.length === 0) exitWithError(ExitCode.BadArgs, PUT_USAGE);
  const ignoreValue = flagBool(cmd, "ignore-value");
  if (ignoreValue && args.length > 1) {
    exitWithError(ExitCode.BadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  }
  const req = etcdserverpb.PutRequest.create();
  req.key = Buffer.from(args[0] as string);
  if (!ignoreValue) {
    if (args.length > 1) req.value = Buffer.from(args[1] as string);
    else {
      const data = await readStdin();
      if (data === null || data.length === 0) exitWithError(ExitCode.BadArgs, PUT_USAGE);
      req.value = data;
    }
  }
  let id: bigint;
  try {
    id = parseInt64(flagString(cmd, "lease"), 16);
  } catch (e) {
    return exitWithError(ExitCode.BadArgs, `bad lease ID (${(e as Error).message}), expecting ID in Hex`);
  }
  req.lease = id;
  req.prevKv = flagBool(cmd, "prev-kv");
  req.ignoreValue = ignoreValue;
  req.ignoreLease = flagBool(cmd, "ignore-lease");
  return req;
}
