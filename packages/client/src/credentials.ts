import { checkServerIdentity } from "node:tls";
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
  } else if (t.serverName !== undefined && t.serverName !== "") {
    const name = t.serverName;
    verify.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert);
  }
  return grpc.credentials.createSsl(t.ca ?? null, t.key ?? null, t.cert ?? null, verify);
}

/** validateTLS rejects settings grpc-js would only refuse at the first connection. */
export function validateTLS(tls: TLSOptions): void {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error("client: tls: cert and key must be given together");
  }
}
