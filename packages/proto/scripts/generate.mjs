// generate.mjs runs buf with the ts-proto plugin over ../../proto into src/gen.
// buf ships as an npm package with its own binary, so no protoc install is needed.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
rmSync(join(here, "src/gen"), { recursive: true, force: true });
execFileSync(join(here, "../../node_modules/.bin/buf"), ["generate", "../../proto", "--template", "buf.gen.yaml"], {
  cwd: here,
  stdio: "inherit",
});
