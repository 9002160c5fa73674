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
import { readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { parseArgs } from "node:util";
import { build } from "esbuild";

/** packageName is the npm package a bare import names ("@scope/name/sub" -> "@scope/name"). */
const packageName = (spec) => spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/");

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUE = new Map([...B64].map((c, i) => [c, i]));

/** decodeSegment decodes one Base64 VLQ source map segment into its signed fields. */
function decodeSegment(seg) {
  const out = [];
  let v = 0;
  let shift = 0;
  for (const c of seg) {
    const d = B64_VALUE.get(c);
    if (d === undefined) throw new Error(`bundle_app: bad source map character "${c}"`);
    v += (d & 31) * 2 ** shift;
    if (d & 32) shift += 5;
    else {
      out.push(v % 2 === 1 ? -Math.floor(v / 2) : Math.floor(v / 2));
      v = 0;
      shift = 0;
    }
  }
  return out;
}

/** encodeSegment encodes signed fields as one Base64 VLQ segment. */
function encodeSegment(fields) {
  let s = "";
  for (const f of fields) {
    let v = f < 0 ? -f * 2 + 1 : f * 2;
    do {
      let d = v % 32;
      v = Math.floor(v / 32);
      if (v > 0) d |= 32;
      s += B64[d];
    } while (v > 0);
  }
  return s;
}

/**
 * lineMappings reduces a source map's mappings to line granularity: of the segments of a
 * generated line it keeps those where the original source or line changes, drops the rest,
 * and drops names (the caller must empty the map's `names`). Node keeps every mapping of a
 * loaded source map as a small array for the life of the process once a stack trace is
 * formatted (every log line names its caller): the server bundle's 173,686 mappings took
 * about 40 MiB of heap. Every mapped position still maps to the source file and line it did;
 * the original column may differ, and frames keep the bundle's function names (esbuild
 * renames a few identifiers, e.g. foo2 for a second foo), since a name kept on a line's first
 * segment would name every later frame on that line.
 */
export function lineMappings(mappings) {
  const acc = [0, 0, 0]; // source, original line, original column: absolute so far
  const kept = [0, 0, 0]; // the same fields as of the last segment written
  const out = [];
  for (const line of mappings.split(";")) {
    const segs = [];
    let col = 0; // a segment's generated column is relative to the previous one on its line
    let keptCol = 0;
    let last; // "source:line" of the last segment kept on this line
    for (const seg of line.split(",")) {
      if (seg === "") continue;
      const f = decodeSegment(seg);
      col += f[0];
      for (let i = 1; i < f.length && i < 4; i++) acc[i - 1] += f[i];
      if (f.length < 4) continue; // a segment with no source: esbuild writes none
      const at = `${acc[0]}:${acc[1]}`;
      if (at === last) continue;
      last = at;
      const rel = [col - keptCol];
      keptCol = col;
      for (let i = 0; i < 3; i++) {
        rel.push(acc[i] - kept[i]);
        kept[i] = acc[i];
      }
      segs.push(encodeSegment(rel));
    }
    out.push(segs.join(","));
  }
  return out.join(";");
}

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
    // Stack traces need the mappings, not the sources' text (which Node would keep in memory).
    sourcesContent: false,
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
  for (const map of Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js.map"))) {
    const m = JSON.parse(readFileSync(map, "utf8"));
    m.mappings = lineMappings(m.mappings);
    m.names = [];
    writeFileSync(map, JSON.stringify(m));
  }
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
