import * as grpc from "@grpc/grpc-js";
import type { UnaryCaller } from "./loop.js";

/** identity passes pre-encoded bytes through grpc-js untouched in both directions. */
function identity(b: Buffer): Buffer {
  return b;
}

/** DEFAULT_MAX_RECEIVE_BYTES is the largest message a connection accepts unless told otherwise (64 MiB). */
export const DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/** UNLIMITED_RECEIVE, as openConnection's maxReceiveBytes, lifts grpc-js's limit on the messages received. */
export const UNLIMITED_RECEIVE = -1;

/**
 * openConnection makes a grpc-js client with its own HTTP/2 connection to target
 * ("127.0.0.1:PORT"): the local subchannel pool keeps clients to the same address from
 * sharing one TCP connection, so N clients really are N connections. A message received
 * over maxReceiveBytes (bytes; UNLIMITED_RECEIVE for none) fails its call with
 * RESOURCE_EXHAUSTED.
 */
export function openConnection(target: string, maxReceiveBytes = DEFAULT_MAX_RECEIVE_BYTES): grpc.Client {
  return new grpc.Client(`ipv4:${target}`, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": maxReceiveBytes,
    "grpc.enable_retries": 0,
  });
}

/** waitReady resolves when the client's connection is up, or rejects after timeoutMs. */
export function waitReady(client: grpc.Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      if (err) reject(new Error(`bench: connection to ${client.getChannel().getTarget()} not ready: ${err.message}`));
      else resolve();
    });
  });
}

/**
 * callMetadata returns the metadata of one call: etcd's auth token under the key "token"
 * (what clientv3 sends), or none. A fresh object per call, so nothing grpc-js may add to
 * one call's metadata leaks into the next.
 */
export function callMetadata(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set("token", token);
  return md;
}

/**
 * unaryCaller returns a caller that sends pre-encoded requests on `method` through client,
 * each with a deadline of timeoutMs and, when given, the auth token in its metadata. The
 * response bytes are not decoded.
 */
export function unaryCaller(client: grpc.Client, method: string, timeoutMs: number, token?: string): UnaryCaller {
  return (request, done) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      method,
      identity,
      identity,
      request,
      callMetadata(token),
      { deadline: Date.now() + timeoutMs },
      (err) => done(err ?? null),
    );
  };
}

/**
 * unaryOnce sends one pre-encoded request (with the auth token in its metadata, when
 * given) and resolves with the response bytes.
 */
export function unaryOnce(client: grpc.Client, method: string, request: Buffer, timeoutMs: number, token?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      method,
      identity,
      identity,
      request,
      callMetadata(token),
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        if (err) reject(err);
        else if (res === undefined) reject(new Error(`bench: ${method}: empty response`));
        else resolve(res);
      },
    );
  });
}

/**
 * explainStream opens one bidi-streaming call on method through grpc-js (with the auth
 * token, when given), sends request, and says what the server did within timeoutMs:
 * answered, or refused with which gRPC status (the text the h2 transport cannot decode).
 */
export function explainStream(target: string, method: string, request: Buffer, timeoutMs: number, token?: string): Promise<string> {
  const c = openConnection(target);
  const what = `a ${method} stream opened through grpc-js`;
  return new Promise<string>((resolve) => {
    const stream = c.makeBidiStreamRequest<Buffer, Buffer>(method, identity, identity, callMetadata(token), {
      deadline: Date.now() + timeoutMs,
    });
    stream.on("data", () => {
      resolve(`${what} was answered`);
      stream.cancel();
    });
    stream.on("error", (err: Error) => resolve(`${what} got: ${err.message}`));
    stream.on("end", () => resolve(`${what} ended without an answer`));
    stream.write(request);
  }).finally(() => c.close());
}
