import { prefixEnd } from "@etcd-ts/client";
import { ExitCode, exitWithError } from "./io.js";

/** PermRange is the key range of a role permission as etcdctl sends it; an empty rangeEnd is one key. */
export interface PermRange {
  key: Buffer;
  rangeEnd: Buffer;
}

const NUL = Buffer.from([0]);

/**
 * permRange is etcdctl's permRange over `<key> [endkey]` with --prefix and --from-key (exit
 * 128 on a bad combination). An empty key stands for "\0", and with --prefix or --from-key for
 * the whole key space ["\0", "\0"); its endkey, if any, is ignored, as etcdctl ignores it.
 */
export function permRange(args: readonly string[], prefix: boolean, fromKey: boolean): PermRange {
  const key = args[0] ?? "";
  if (key === "") {
    if (prefix && fromKey) exitWithError(ExitCode.BadArgs, "--from-key and --prefix flags are mutually exclusive");
    return { key: NUL, rangeEnd: prefix || fromKey ? NUL : Buffer.alloc(0) };
  }
  const k = Buffer.from(key);
  if (args.length === 1) {
    if (prefix) {
      if (fromKey) exitWithError(ExitCode.BadArgs, "--from-key and --prefix flags are mutually exclusive");
      return { key: k, rangeEnd: prefixEnd(k) };
    }
    return { key: k, rangeEnd: fromKey ? NUL : Buffer.alloc(0) };
  }
  if (prefix) exitWithError(ExitCode.BadArgs, "unexpected endkey argument with --prefix flag");
  if (fromKey) exitWithError(ExitCode.BadArgs, "unexpected endkey argument with --from-key flag");
  return { key: k, rangeEnd: Buffer.from(args[1] as string) };
}
