// bundle_app.mjs bundles an app (apps/server, apps/etcdctl) with esbuild into ES modules that
// have the workspace packages (@etcd-ts/*) compiled in, so that the app's packed tarball
// installs with npm alone (`npm install -g ./etcd-ts-server-0.1.0.tgz`): the workspace
// packages are not on the registry. Every import the bundle leaves external must be a Node
// builtin or a package the app declares in its dependencies; bundleApp fails the build
// otherwise, including for modules loaded through a require() made by createRequire, which
// esbuild does not follow (found in the output).
//
// Run in the app's directory, from its build script:
//   node ../../scripts/bundle_app.mjs [--outfile F | --outdir D --outbase B] [--keep P]... entry...
// With no --keep, every declared dependency stays external (npm installs it next to the app);
// with --keep, only the packages named are left external and the rest is compiled in too
// (fewer modules to load at start).
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { parseArgs } from "node:util";
import { build } from "esbuild";

/** packageName is the npm package a bare import names ("@scope/name/sub" -> "@scope/name"). */
const packageName = (spec) => spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/");

/** bundleApp bundles entryPoints; keep is "declared" or the only packages left external. */
async function bundleApp({ entryPoints, outdir, outbase, outfile, keep }) {
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  const declared = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const isBuiltin = (spec) => {
    const s = spec.startsWith("node:") ? spec.slice(5) : spec;
    return builtins.has(s) || builtins.has(packageName(s));
  };
  const external = (name) => (keep === "declared" ? !name.startsWith("@etcd-ts/") : keep.includes(name));
  const missing = new Set();
  const result = await build({
    entryPoints,
    ...(outfile !== undefined ? { outfile } : { outdir, outbase }),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    metafile: true,
    // CommonJS code that is bundled calls require() for Node's modules; an ES module has none.
    banner: { js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);' },
    plugins: [
      {
        name: "externals",
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            if (isBuiltin(args.path)) return { path: args.path, external: true };
            const name = packageName(args.path);
            if (!external(name)) return undefined;
            if (!declared.has(name)) missing.add(`${name} (imported by ${args.importer})`);
            return { path: args.path, external: true };
          });
        },
      },
    ],
    logLevel: "warning",
  });
  for (const out of Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js"))) {
    const text = readFileSync(out, "utf8");
    for (const m of text.matchAll(/(?:\brequire\d*|import\.meta\.url\))\("([^"./][^"]*)"\)/g)) {
      const spec = m[1];
      if (!isBuiltin(spec) && !declared.has(packageName(spec))) missing.add(`${packageName(spec)} (required at run time by ${out})`);
    }
  }
  if (missing.size > 0) {
    console.error(`bundle_app: the bundle needs packages that package.json does not declare in dependencies:\n  ${[...missing].join("\n  ")}`);
    process.exit(1);
  }
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { outfile: { type: "string" }, outdir: { type: "string" }, outbase: { type: "string" }, keep: { type: "string", multiple: true } },
});
await bundleApp({
  entryPoints: positionals,
  outfile: values.outfile,
  outdir: values.outdir,
  outbase: values.outbase,
  keep: values.keep ?? "declared",
});
