/**
 * @etcd-ts/grpc-server is a gRPC server on its own HTTP/2 implementation (src/h2: framing, HPACK,
 * flow control): all four call kinds on one connection,
 * receive limits on the bytes actually received and on decompressed sizes, write
 * backpressure, cancellation, deadlines, a per-call context (metadata, peer, client
 * certificate) and interceptors. It is general: it knows nothing of etcd.
 */
export { GrpcServer, type GrpcServerOptions } from "./server.js";
export { GrpcError, Status, type StatusCode, percentEncode } from "./status.js";
export { Metadata, parseTimeout } from "./metadata.js";
export { MessageDecoder, frame } from "./decoder.js";
export type { InvokedCall, InvokeOptions } from "./local_call.js";
export type { ByteObserver, CallObserver, MethodInfo, MethodObserver } from "./observer.js";
export type {
  BidiStream,
  BidiStreamingHandler,
  CallContext,
  CallStatus,
  ClientStream,
  ClientStreamingHandler,
  HandlerFor,
  Interceptor,
  MethodDefinition,
  ServerStream,
  ServerStreamingHandler,
  ServiceDefinition,
  ServiceImplementation,
  UnaryHandler,
} from "./types.js";
