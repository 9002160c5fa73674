/**
 * @etcd-ts/server: the etcd-ts member, for embedding and for the `etcd-ts` binary.
 */
export { main } from "./main.js";
export { Etcd } from "./embed.js";
export { loadConfig, usage, type ServerConfig } from "./config/config.js";
export { ConfigError } from "./config/parse.js";
export { Logger } from "./log.js";
export { memberId, clusterId } from "./ids.js";
