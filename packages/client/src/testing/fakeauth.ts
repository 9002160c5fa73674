import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";

/**
 * FakeAuthServer is an in-process server with etcd's Authenticate and a KV Range that checks
 * the "token" metadata as etcd does: no token is "user name is empty", an unknown one
 * "invalid auth token". It records what it saw.
 */
export interface FakeAuthServer {
  endpoint: string;
  /** authenticates counts Authenticate calls; tokensSeen lists the token of every Range ("" for none). */
  authenticates: number;
  tokensSeen: string[];
  /** enabled switches authentication; hangAuthenticate leaves Authenticate unanswered. */
  enabled: boolean;
  hangAuthenticate: boolean;
  /** expireTokens forgets every token handed out. */
  expireTokens(): void;
  stop(): Promise<void>;
}

const header = etcdserverpb.ResponseHeader.fromPartial({ clusterId: 1n, memberId: 1n, revision: 3n, raftTerm: 2n });

/** startFakeAuth serves on a free loopback port; the one valid user is name:password. */
export async function startFakeAuth(name: string, password: string): Promise<FakeAuthServer> {
  const server = new grpc.Server();
  const valid = new Set<string>();
  let serial = 0;
  const state: FakeAuthServer = {
    endpoint: "",
    authenticates: 0,
    tokensSeen: [],
    enabled: true,
    hangAuthenticate: false,
    expireTokens: () => valid.clear(),
    // Calls left unanswered on purpose (hangAuthenticate) end with the server.
    stop: async () => server.forceShutdown(),
  };
  const fail = (code: grpc.status, details: string): grpc.ServiceError => ({ code, details }) as grpc.ServiceError;
  const unimplemented = (_c: unknown, cb: grpc.sendUnaryData<never>): void => cb(fail(grpc.status.UNIMPLEMENTED, "fake"), null);
  const auth: Partial<etcdserverpb.AuthServer> = {
    authenticate: (call, cb) => {
      state.authenticates++;
      if (state.hangAuthenticate) return;
      if (!state.enabled) return cb(fail(grpc.status.FAILED_PRECONDITION, "etcdserver: authentication is not enabled"), null);
      if (call.request.name !== name || call.request.password !== password) {
        return cb(fail(grpc.status.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password"), null);
      }
      const token = `tok-${++serial}`;
      valid.add(token);
      cb(null, etcdserverpb.AuthenticateResponse.fromPartial({ header, token }));
    },
  };
  const kv: Partial<etcdserverpb.KVServer> = {
    range: (call, cb) => {
      const token = call.metadata.get("token")[0]?.toString() ?? "";
      state.tokensSeen.push(token);
      if (state.enabled) {
        if (token === "") return cb(fail(grpc.status.INVALID_ARGUMENT, "etcdserver: user name is empty"), null);
        if (!valid.has(token)) return cb(fail(grpc.status.UNAUTHENTICATED, "etcdserver: invalid auth token"), null);
      }
      cb(null, etcdserverpb.RangeResponse.fromPartial({ header }));
    },
  };
  const fill = <T extends object>(impl: Partial<T>, svc: grpc.ServiceDefinition): T => {
    const out: Record<string, unknown> = { ...impl };
    for (const k of Object.keys(svc)) if (out[k] === undefined) out[k] = unimplemented;
    return out as T;
  };
  server.addService(etcdserverpb.AuthService, fill(auth, etcdserverpb.AuthService));
  server.addService(etcdserverpb.KVService, fill(kv, etcdserverpb.KVService));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  state.endpoint = `127.0.0.1:${port}`;
  return state;
}
