import * as grpc from "@grpc/grpc-js";
import { EtcdError } from "./errors.js";

/** TOKEN_METADATA_KEY is the gRPC metadata key etcd reads the auth token from. */
export const TOKEN_METADATA_KEY = "token";

/** ERR_AUTH_NOT_ENABLED is etcd's answer to Authenticate while authentication is disabled. */
export const ERR_AUTH_NOT_ENABLED = "etcdserver: authentication is not enabled";
/** ERR_INVALID_AUTH_TOKEN is etcd's answer to a call whose token expired or is unknown. */
export const ERR_INVALID_AUTH_TOKEN = "etcdserver: invalid auth token";
/** ERR_AUTH_OLD_REVISION is etcd's answer to a call whose token predates an auth change. */
export const ERR_AUTH_OLD_REVISION = "etcdserver: revision of auth store is old";
/** ERR_USER_EMPTY is etcd's answer to a call without a token while authentication is enabled. */
export const ERR_USER_EMPTY = "etcdserver: user name is empty";

/**
 * AuthState is what authenticating with the client's credentials came to: "token" (every call
 * now carries it), "disabled" (the server has authentication disabled; calls carry no token),
 * or "none" (the client has no credentials).
 */
export type AuthState = "token" | "disabled" | "none";

/** AuthenticateFn asks a server for a token; timeoutMs bounds the whole attempt. */
export type AuthenticateFn = (name: string, password: string, timeoutMs: number | undefined) => Promise<string>;

/**
 * TokenSource holds a client's user name and password and the token etcd gave for them. The
 * token is fetched once, before the first call that needs it (concurrent callers share the
 * fetch), and fetched again when a call is refused for a stale or missing token, as etcd's Go
 * client does. When the server has authentication disabled, calls go without a token.
 */
export class TokenSource {
  private readonly name: string;
  private readonly password: string;
  private readonly authenticate: AuthenticateFn;
  private token: string | undefined;
  private state: AuthState | undefined;
  private pending: Promise<AuthState> | undefined;

  constructor(name: string, password: string, authenticate: AuthenticateFn) {
    this.name = name;
    this.password = password;
    this.authenticate = authenticate;
  }

  /** current is the token calls carry now (undefined: none). */
  get current(): string | undefined {
    return this.token;
  }

  /**
   * ensure fetches a token unless one was fetched already (or the server said authentication
   * is disabled). It rejects with the server's error, e.g. "etcdserver: authentication failed,
   * invalid user ID or password".
   */
  ensure(timeoutMs: number | undefined): Promise<AuthState> {
    if (this.state !== undefined) return Promise.resolve(this.state);
    if (this.pending === undefined) {
      const p = this.fetch(timeoutMs);
      this.pending = p;
      const done = (): void => {
        if (this.pending === p) this.pending = undefined;
      };
      p.then(done, done);
    }
    return this.pending;
  }

  /**
   * refresh drops the token `used` was refused for and fetches a new one; when another call
   * already replaced it, the newer token is kept.
   */
  refresh(used: string | undefined, timeoutMs: number | undefined): Promise<AuthState> {
    if (this.pending === undefined && this.token === used) {
      this.token = undefined;
      this.state = undefined;
    }
    return this.ensure(timeoutMs);
  }

  /** invalidate makes the next call fetch a new token (a stream was refused for this one). */
  invalidate(): void {
    if (this.pending !== undefined) return;
    this.token = undefined;
    this.state = undefined;
  }

  /**
   * shouldRefresh tells whether a call that failed with e may succeed with a new token: the
   * token is unknown or stale, or the server saw none although authentication is enabled.
   */
  shouldRefresh(e: unknown): boolean {
    if (!(e instanceof EtcdError) || e.local) return false;
    return e.details === ERR_INVALID_AUTH_TOKEN || e.details === ERR_AUTH_OLD_REVISION || e.details === ERR_USER_EMPTY;
  }

  /** metadata is the metadata of a call: the token under "token", when there is one. */
  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token !== undefined) md.set(TOKEN_METADATA_KEY, this.token);
    return md;
  }

  private async fetch(timeoutMs: number | undefined): Promise<AuthState> {
    try {
      this.token = await this.authenticate(this.name, this.password, timeoutMs);
      this.state = "token";
    } catch (e) {
      if (!(e instanceof EtcdError) || e.local || e.details !== ERR_AUTH_NOT_ENABLED) throw e;
      this.token = undefined;
      this.state = "disabled";
    }
    return this.state;
  }
}
