/**
 * channel.ts gives the lease-put and watch workloads one connection type over either
 * transport: unary calls that hand back the response, and bidi-streaming calls. Requests
 * are passed in the transport's own format (`framed`: with gRPC's 5-byte prefix for h2,
 * the bare message for grpc-js), so per-operation requests are built once, in place.
 */
import * as grpc from "@grpc/grpc-js";
import { callMetadata, openConnection, waitReady } from "./grpc-caller.js";
import { H2Connection, requestHeaderBlock } from "./h2-client.js";
import type { Transport } from "./protocol.js";

/** ResponseCallback receives a call's outcome and, on success, the response message. */
export type ResponseCallback = (err: Error | null, response: Buffer | undefined) => void;

/** StreamHandler receives a streaming call's messages and its end (see H2StreamHandler). */
export interface StreamHandler {
  /** onMessage gets one message as buf[start, end), valid only during the call. */
  onMessage(buf: Buffer, start: number, end: number): void;
  /** onEnd is called once, unless the caller cancelled first. */
  onEnd(err: Error, messages: number): void;
}

/** StreamCall is an open streaming call. */
export interface StreamCall {
  /** send queues one request message (in the channel's format). */
  send(message: Buffer): void;
  /** cancel ends the call from the client side; the handler is not called afterwards. */
  cancel(): void;
}

/** Channel is one gRPC connection. */
export interface Channel {
  /** framed is true when messages carry gRPC's length prefix (h2), false for grpc-js. */
  readonly framed: boolean;
  /** target is the "host:port" the channel is connected to. */
  readonly target: string;
  /** call sends one unary request; done is called exactly once, asynchronously. */
  call(method: string, request: Buffer, done: ResponseCallback): void;
  /** unary is call() without the response (cheaper on h2). */
  unary(method: string, request: Buffer, done: (err: Error | null) => void): void;
  /** stream opens a bidi-streaming call on method. */
  stream(method: string, handler: StreamHandler): StreamCall;
  close(): void;
}

function identity(b: Buffer): Buffer {
  return b;
}

/** H2Channel is a Channel over the bench's own HTTP/2 client. */
class H2Channel implements Channel {
  readonly framed = true;
  private readonly headers = new Map<string, Buffer>();

  constructor(
    private readonly conn: H2Connection,
    readonly target: string,
    private readonly token: string | undefined,
  ) {}

  private headerBlock(method: string): Buffer {
    let h = this.headers.get(method);
    if (h === undefined) {
      h = requestHeaderBlock(method, this.target, this.token);
      this.headers.set(method, h);
    }
    return h;
  }

  call(method: string, request: Buffer, done: ResponseCallback): void {
    this.conn.call(this.headerBlock(method), request, done);
  }

  unary(method: string, request: Buffer, done: (err: Error | null) => void): void {
    this.conn.unary(this.headerBlock(method), request, done);
  }

  stream(method: string, handler: StreamHandler): StreamCall {
    const s = this.conn.openStream(this.headerBlock(method), handler);
    return { send: (m) => s.send(m), cancel: () => s.cancel() };
  }

  close(): void {
    this.conn.close();
  }
}

/** GrpcJsChannel is a Channel over @grpc/grpc-js with identity serializers (the cross-check). */
class GrpcJsChannel implements Channel {
  readonly framed = false;

  constructor(
    private readonly client: grpc.Client,
    readonly target: string,
    private readonly timeoutMs: number,
    private readonly token: string | undefined,
  ) {}

  call(method: string, request: Buffer, done: ResponseCallback): void {
    this.client.makeUnaryRequest<Buffer, Buffer>(
      method,
      identity,
      identity,
      request,
      callMetadata(this.token),
      { deadline: Date.now() + this.timeoutMs },
      (err, res) => done(err ?? null, err ? undefined : res),
    );
  }

  unary(method: string, request: Buffer, done: (err: Error | null) => void): void {
    this.call(method, request, (err) => done(err));
  }

  stream(method: string, handler: StreamHandler): StreamCall {
    const s = this.client.makeBidiStreamRequest<Buffer, Buffer>(method, identity, identity, callMetadata(this.token));
    let messages = 0;
    let over = false;
    const end = (err: Error): void => {
      if (over) return;
      over = true;
      handler.onEnd(err, messages);
    };
    s.on("data", (b: Buffer) => {
      if (over) return;
      messages++;
      handler.onMessage(b, 0, b.length);
    });
    s.on("error", (err: Error) => end(err));
    s.on("end", () => end(new Error(`grpc-js: server ended the stream after ${messages} messages`)));
    return {
      send: (m) => {
        if (!over) s.write(m);
      },
      cancel: () => {
        over = true;
        s.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}

/**
 * openChannel connects to target ("host:port") over the transport; timeoutMs bounds the
 * connect and is each unary call's deadline. With `token`, every call on the channel
 * (unary and streaming) carries it as etcd's auth token (header / metadata "token").
 */
export async function openChannel(transport: Transport, target: string, timeoutMs: number, token?: string): Promise<Channel> {
  if (transport === "h2") {
    const colon = target.lastIndexOf(":");
    const conn = await H2Connection.connect(target.slice(0, colon), Number(target.slice(colon + 1)), timeoutMs);
    return new H2Channel(conn, target, token);
  }
  const client = openConnection(target);
  try {
    await waitReady(client, timeoutMs);
  } catch (err) {
    client.close();
    throw err;
  }
  return new GrpcJsChannel(client, target, timeoutMs, token);
}

/** toWire returns a bare message in the channel's format. */
export function toWire(ch: { framed: boolean }, message: Buffer): Buffer {
  if (!ch.framed) return message;
  const b = Buffer.allocUnsafe(5 + message.length);
  b[0] = 0;
  b.writeUInt32BE(message.length, 1);
  message.copy(b, 5);
  return b;
}
