import { BinaryWriter } from "@bufbuild/protobuf/wire";
import type { MethodDefinition, ServiceDefinition } from "@etcd-ts/grpc-server";

/** Encoder is a ts-proto message type's encode. */
export interface Encoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/**
 * shared is one protobuf writer reused by the hot encodes of this thread. A fresh writer per
 * message (what ts-proto's generated code does) grows a zero-filled buffer two or three times
 * and the generated serializers copy the result twice more; with one writer the buffer stays
 * grown and finish() copies the bytes out once. Encoding is synchronous, so nothing else can
 * use the writer between an encode and its finish().
 */
let shared = new BinaryWriter();

/**
 * KEEP_BYTES is the largest message after which the shared writer keeps its buffer: the
 * buffer only grows, so one large answer (a range of many megabytes) would otherwise stay
 * allocated for the life of the process.
 */
export const KEEP_BYTES = 1 << 20;

/** encodeShared encodes m with the shared writer; the Buffer is the message's own copy. */
export function encodeShared<T>(type: Encoder<T>, m: T): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = type.encode(m, shared).finish();
  } catch (err) {
    shared = new BinaryWriter(); // an encode that threw leaves the writer mid-message
    throw err;
  }
  if (bytes.byteLength > KEEP_BYTES) shared = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * withSharedEncoders returns service with the response serializers of the named methods
 * replaced by encodeShared over their response types (same bytes, fewer copies).
 */
export function withSharedEncoders<S extends ServiceDefinition>(service: S, responses: { [K in keyof S]?: Encoder<never> }): S {
  const serializers: Record<string, (v: never) => Buffer> = {};
  for (const [name, type] of Object.entries(responses) as [string, Encoder<unknown> | undefined][]) {
    if (type !== undefined) serializers[name] = (v: unknown) => encodeShared(type, v);
  }
  return withSerializers(service, serializers as { [K in keyof S]?: (v: never) => Buffer });
}

/**
 * withSerializers returns service with the response serializers of the named methods
 * replaced by the given functions, which must write the same bytes as the generated ones.
 */
export function withSerializers<S extends ServiceDefinition>(service: S, serializers: { [K in keyof S]?: (v: never) => Buffer }): S {
  const out: Record<string, MethodDefinition<unknown, unknown>> = { ...(service as unknown as Record<string, MethodDefinition<unknown, unknown>>) };
  for (const [name, serialize] of Object.entries(serializers) as [string, ((v: unknown) => Buffer) | undefined][]) {
    const def = out[name];
    if (def === undefined || serialize === undefined) throw new Error(`grpc: the service has no method "${name}"`);
    out[name] = { ...def, responseSerialize: serialize };
  }
  return out as unknown as S;
}
