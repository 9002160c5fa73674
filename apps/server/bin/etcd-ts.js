#!/usr/bin/env node
// etcd-ts: start an etcd-compatible member. See the README for flags.
import { main } from "../dist/main.js";

await main(process.argv.slice(2), process.env);
