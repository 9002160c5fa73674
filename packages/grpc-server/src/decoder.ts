import { gunzipSync, inflateSync } from "node:zlib";
import { GrpcError, Status } from "./status.js";

/** HEADER_BYTES is the length prefix of every gRPC message: a compressed flag and a 4-byte length. */
const HEADER_BYTES = 5;

/**
 * MessageDecoder turns the DATA of a request stream into messages as bytes arrive. It holds at
 * most one message: the declared length is checked against the receive limit before any of its
 * bytes are kept, and a compressed message is inflated with the same limit on its output, so
 * a client cannot make the server hold more than `maxBytes` per stream however it frames its
 * data. Errors are GrpcErrors with grpc-go's codes and texts.
 */
export class MessageDecoder {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;

  /**
   * @param maxBytes the receive limit in bytes, for the declared and the decompressed size.
   * @param encoding the request's grpc-encoding (identity when absent).
   */
  constructor(
    private readonly maxBytes: number,
    private readonly encoding: string,
  ) {}

  /** partial reports whether a message has started but not all its bytes have arrived. */
  get partial(): boolean {
    return this.headerFill > 0;
  }

  /**
   * push consumes a chunk and calls onMessage for each message it completes, in order. It
   * throws a GrpcError for an oversized or malformed message; the decoder is then unusable.
   */
  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.headerFill < HEADER_BYTES) {
        const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < HEADER_BYTES) return;
        const len = this.header.readUInt32BE(1);
        if (len > this.maxBytes) {
          throw new GrpcError(Status.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${len} vs. ${this.maxBytes})`);
        }
        const flag = this.header[0];
        if (flag !== 0 && flag !== 1) throw new GrpcError(Status.INTERNAL, `grpc: received unexpected payload format ${String(flag)}`);
        if (len === 0) {
          this.headerFill = 0;
          onMessage(this.finish(Buffer.alloc(0)));
          continue;
        }
        // A whole message inside this chunk is passed on without a copy.
        if (chunk.length - off >= len) {
          const msg = chunk.subarray(off, off + len);
          off += len;
          this.headerFill = 0;
          onMessage(this.finish(msg));
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.bodyFill = 0;
      }
      const body = this.body as Buffer;
      const n = Math.min(body.length - this.bodyFill, chunk.length - off);
      chunk.copy(body, this.bodyFill, off, off + n);
      this.bodyFill += n;
      off += n;
      if (this.bodyFill === body.length) {
        this.body = undefined;
        this.headerFill = 0;
        onMessage(this.finish(body));
      }
    }
  }

  /** finish inflates a compressed message (flag 1) within the receive limit. */
  private finish(msg: Buffer): Buffer {
    if (this.header[0] === 0) return msg;
    const enc = this.encoding;
    if (enc !== "gzip" && enc !== "deflate") {
      throw new GrpcError(Status.INTERNAL, "grpc: compressed flag set with identity or empty encoding");
    }
    try {
      const opts = { maxOutputLength: this.maxBytes };
      return enc === "gzip" ? gunzipSync(msg, opts) : inflateSync(msg, opts);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new GrpcError(
          Status.RESOURCE_EXHAUSTED,
          `grpc: received message after decompression larger than max (${this.maxBytes + 1} vs. ${this.maxBytes})`,
        );
      }
      throw new GrpcError(Status.INTERNAL, `grpc: failed to decompress the received message ${(err as Error).message}`);
    }
  }
}

/** frameHeader is gRPC's uncompressed length prefix for a message of length bytes. */
export function frameHeader(length: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out[0] = 0;
  out.writeUInt32BE(length, 1);
  return out;
}

/** frame prefixes an encoded message with gRPC's uncompressed length prefix. */
export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, HEADER_BYTES);
  return out;
}
