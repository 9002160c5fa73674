import * as grpc from "@grpc/grpc-js";
import type { Endpoint } from "./endpoint.js";
import type { TLSOptions } from "./options.js";

/**
 * channelCredentials picks the transport of one endpoint the way etcd's Go client does:
 * "http://" is plain text, "https://" is TLS (with the client's settings, or Node's
 * defaults), and a bare host:port is TLS only when the client has TLS settings.
 */
export function channelCredentials(ep: Endpoint, tls: TLSOptions | undefined): grpc.ChannelCredentials {
  if (ep.scheme === "http") return grpc.credentials.createInsecure();
  if (ep.scheme === "" && tls === undefined) return grpc.credentials.createInsecure();
  const t = tls ?? {};
  const verify: grpc.VerifyOptions = {};
  if (t.insecureSkipVerify === true) {
    verify.checkServerIdentity = () => undefined;
    verify.rejectUnauthorized = false;
  }
  return grpc.credentials.createSsl(t.ca ?? null, t.key ?? null, t.cert ?? null, verify);
}

/**
 * channelOptionsFor adds what an endpoint's TLS needs to the client's channel options: with
 * a serverName, grpc-js's target name override, which sends it as SNI and :authority and
 * checks the certificate against it (grpc-go's ServerName), for TLS endpoints only.
 */
export function channelOptionsFor(ep: Endpoint, tls: TLSOptions | undefined, base: grpc.ChannelOptions): grpc.ChannelOptions {
  const secure = ep.scheme === "https" || (ep.scheme === "" && tls !== undefined);
  const name = tls?.serverName;
  if (!secure || name === undefined || name === "") return base;
  return { ...base, "grpc.ssl_target_name_override": name, "grpc.default_authority": name };
}

/** validateTLS rejects settings grpc-js would only refuse at the first connection. */
export function validateTLS(tls: TLSOptions): void {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error("client: tls: cert and key must be given together");
  }
}
