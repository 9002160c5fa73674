// build-cjs.mjs makes the CommonJS build of @etcd-ts/client from the ESM one in dist/:
// dist/cjs/index.cjs, one esbuild bundle (with @etcd-ts/proto inside; @grpc/grpc-js and
// @bufbuild/protobuf stay dependencies, both ship CommonJS), and dist/cjs/*.d.cts, the
// declarations again with their relative imports pointing at .cjs, so TypeScript reads them
// as CommonJS for a consumer that requires the package.
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const out = join(dist, "cjs");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(dist, "index.js")],
  outfile: join(out, "index.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  external: ["@grpc/grpc-js", "@bufbuild/protobuf"],
  logLevel: "warning",
});

const relativeJs = /(from\s+["']\.{1,2}\/[^"']+)\.js(["'])/g;
for (const f of readdirSync(dist)) {
  if (!f.endsWith(".d.ts")) continue;
  const text = readFileSync(join(dist, f), "utf8").replace(relativeJs, "$1.cjs$2").replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n");
  writeFileSync(join(out, f.replace(/\.d\.ts$/, ".d.cts")), text);
}
