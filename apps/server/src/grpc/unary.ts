import { status as Status } from "@grpc/grpc-js";
import { RpcError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CallError, UnaryCall } from "./lite_server.js";

/**
 * unary adapts an async request handler to the gRPC server: the result is sent, an RpcError
 * is sent with etcd's code and message, anything else is logged and sent as Internal.
 */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  fn: (req: Req) => Promise<Res>,
): (call: UnaryCall<Req>, cb: (err: CallError | null, res?: Res) => void) => void {
  return (call, cb) => {
    fn(call.request).then(
      (res) => cb(null, res),
      (err: unknown) => {
        if (err instanceof RpcError) {
          cb({ code: err.code, details: err.message });
          return;
        }
        logger.warn("v3rpc/grpc.ts", "request failed", { method, error: String(err) });
        cb({ code: Status.INTERNAL, details: `etcd-ts: ${(err as Error)?.message ?? String(err)}` });
      },
    );
  };
}
