import { afterAll, beforeAll } from "vitest";
import type { ServerKind } from "@etcd-ts/test-kit";
import { Etcd } from "../etcd.js";
import { startEtcd, type RunningEtcd } from "./etcd.js";

/** EtcdFixture is a server of one kind and an Etcd on it, started before a describe block's tests. */
export interface EtcdFixture {
  /** etcd is the Etcd on the server (valid inside tests). */
  readonly etcd: Etcd;
  /** server is the running server (valid inside tests). */
  readonly server: RunningEtcd;
  /** fresh is a namespace no other test of the block uses, so tests do not see each other's keys. */
  fresh(): Etcd;
}

/** useEtcd starts a server of `kind` and an Etcd on it for the enclosing describe block, and stops both after it. */
export function useEtcd(kind: ServerKind, tag: string): EtcdFixture {
  let server: RunningEtcd | undefined;
  let etcd: Etcd | undefined;
  let n = 0;
  beforeAll(async () => {
    server = await startEtcd({ kind });
    etcd = new Etcd({ endpoints: [server.endpoint] });
  }, 30_000);
  afterAll(async () => {
    etcd?.close();
    await server?.stop();
  });
  return {
    get etcd(): Etcd {
      if (etcd === undefined) throw new Error("testing: the server is not started yet");
      return etcd;
    },
    get server(): RunningEtcd {
      if (server === undefined) throw new Error("testing: the server is not started yet");
      return server;
    },
    fresh(): Etcd {
      return this.etcd.namespace(`${tag}${n++}/`);
    },
  };
}
