#!/usr/bin/env node
// The CLI as one bundled module (scripts/bundle.mjs): it starts faster than dist/main.js and
// the modules it imports.
import { run } from "../dist/etcdctl-ts.bundle.js";

await run();
