/**
 * @etcd-ts/etcdctl is etcdctl-ts, the etcdctl 3.4-compatible command line client.
 */
export { main, run, execute, buildRoot, processIo } from "./main.js";
export { ExitCode, ExitError, bufferLineReader, streamLineReader, type Io, type LineReader } from "./ctl/io.js";
