#!/usr/bin/env node
// etcd-ts: start an etcd-compatible member. See the README for flags.
// The member runs from one bundled module (scripts/bundle.mjs), so the packed package needs
// nothing from the workspace. Stack traces (and so the "caller" of log lines) name the
// TypeScript source files and lines, through the bundle's source map.
process.setSourceMapsEnabled(true);
const { main } = await import("../dist/bundle/index.js");

await main(process.argv.slice(2), process.env);
