#!/usr/bin/env node
// etcd-ts: start an etcd-compatible member. See the README for flags.
// Stack traces (and so the "caller" of log lines) name the TypeScript source files and lines.
process.setSourceMapsEnabled(true);
const { main } = await import("../dist/main.js");

await main(process.argv.slice(2), process.env);
