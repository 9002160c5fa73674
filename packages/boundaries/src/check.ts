import { existsSync, readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { RULES, type PackageRule } from "./rules.js";

/** Violation is one forbidden import or reference, at a file and line. */
export interface Violation {
  /** file is relative to the repository root, "/"-separated. */
  file: string;
  line: number;
  /** rule names the check: "only-imports", "forbidden-import", "forbidden-global", "app-import", "deep-import", "outside-package", "undeclared". */
  rule: string;
  message: string;
}

/** Report is what a check found, and how much it looked at (so that it cannot pass on nothing). */
export interface Report {
  workspaces: string[];
  files: number;
  violations: Violation[];
}

interface PackageJson {
  name?: string;
  private?: boolean;
  main?: string;
  exports?: unknown;
  bin?: unknown;
  workspaces?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

interface Workspace {
  /** dir is absolute; rel is relative to the root, "/"-separated. */
  dir: string;
  rel: string;
  name: string;
  pkg: PackageJson;
  /** testOnly: a private package that exports nothing and has no bin holds only tests. */
  testOnly: boolean;
}

const SOURCE_EXT = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", "coverage", ".turbo"]);
const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith("_")));

function readJson(path: string): PackageJson {
  return JSON.parse(readFileSync(path, "utf8")) as PackageJson;
}

function posix(p: string): string {
  return p.split(sep).join("/");
}

/**
 * findWorkspaces lists the root package.json's workspaces (with "dir/*" patterns) and every
 * packages/* and apps/* directory that has a package.json, listed or not.
 */
function findWorkspaces(root: string): Workspace[] {
  const rootPkg = readJson(join(root, "package.json"));
  const dirs = new Set<string>();
  const expand = (pattern: string): void => {
    if (pattern.endsWith("/*")) {
      const parent = join(root, pattern.slice(0, -2));
      if (!existsSync(parent)) return;
      for (const e of readdirSync(parent, { withFileTypes: true })) {
        if (e.isDirectory()) dirs.add(posix(join(pattern.slice(0, -2), e.name)));
      }
    } else {
      dirs.add(posix(pattern).replace(/\/$/, ""));
    }
  };
  for (const w of rootPkg.workspaces ?? []) expand(w);
  expand("packages/*");
  expand("apps/*");
  const out: Workspace[] = [];
  for (const rel of [...dirs].sort()) {
    const dir = join(root, rel);
    if (!existsSync(join(dir, "package.json"))) continue;
    const pkg = readJson(join(dir, "package.json"));
    const testOnly = pkg.private === true && pkg.exports === undefined && pkg.main === undefined && pkg.bin === undefined;
    out.push({ dir, rel, name: pkg.name ?? rel, pkg, testOnly });
  }
  return out;
}

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".") || SKIP_DIRS.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && SOURCE_EXT.test(e.name)) out.push(p);
  }
}

/** sourceFiles are a workspace's code: everything below it but node_modules, dist and dot-dirs. */
function sourceFiles(ws: Workspace): string[] {
  const out: string[] = [];
  walk(ws.dir, out);
  return out.sort();
}

/**
 * isTestCode: test files, test helpers (`testing/` directories, which no build ships), build
 * scripts and tool configs; everything of a test-only package.
 */
function isTestCode(ws: Workspace, file: string): boolean {
  if (ws.testOnly) return true;
  const rel = posix(relative(ws.dir, file));
  if (/\.(test|spec)\.[a-z]+$/.test(rel)) return true;
  if (/(^|\/)(testing|test|tests|__tests__|scripts)\//.test(rel)) return true;
  if (!rel.includes("/") && /\.config\.[a-z]+$/.test(rel)) return true;
  return false;
}

interface ImportRef {
  spec: string;
  node: ts.Node;
}

/** importsOf finds every module a file names: import/export from, import(), require(), import("x").T, import x = require(). */
function importsOf(sf: ts.SourceFile): ImportRef[] {
  const out: ImportRef[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier !== undefined && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push({ spec: n.moduleSpecifier.text, node: n.moduleSpecifier });
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      out.push({ spec: n.moduleReference.expression.text, node: n.moduleReference.expression });
    } else if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const arg = n.arguments[0];
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      if ((isImport || isRequire) && arg !== undefined && ts.isStringLiteralLike(arg)) out.push({ spec: arg.text, node: arg });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      out.push({ spec: n.argument.literal.text, node: n.argument.literal });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** builtinName is the builtin module a specifier names ("node:fs/promises" -> "fs/promises"), or undefined. */
function builtinName(spec: string): string | undefined {
  if (spec.startsWith("node:")) return spec.slice(5);
  return BUILTINS.has(spec) ? spec : undefined;
}

/** splitPackage splits a bare specifier into the package name and the subpath after it. */
function splitPackage(spec: string): { name: string; subpath: string } {
  const parts = spec.split("/");
  const n = spec.startsWith("@") ? 2 : 1;
  return { name: parts.slice(0, n).join("/"), subpath: parts.slice(n).join("/") };
}

function matchesPackage(pattern: string, name: string): boolean {
  return pattern.endsWith("/*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

function builtinCovered(list: readonly string[], name: string): boolean {
  return list.some((b) => name === b || name.startsWith(`${b}/`));
}

function rulesFor(ws: Workspace): PackageRule[] {
  return RULES.filter((r) => (r.packages.includes(ws.rel) || r.packages.includes("*")) && !(r.exceptPackages ?? []).includes(ws.rel));
}

/** exportsSubpath tells whether a package's "exports" map offers "./subpath". */
function exportsSubpath(pkg: PackageJson, subpath: string): boolean {
  const e = pkg.exports;
  return typeof e === "object" && e !== null && !Array.isArray(e) && Object.prototype.hasOwnProperty.call(e, `./${subpath}`);
}

/**
 * isValueReference tells whether an identifier names a value where it stands (not a property
 * name, a type, a label or a declared name).
 */
function isValueReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p) && p.name === id) return false;
  if (ts.isQualifiedName(p) || ts.isTypeReferenceNode(p) || ts.isExpressionWithTypeArguments(p)) return false;
  if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isPropertySignature(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isEnumMember(p)) && p.name === id) {
    return false;
  }
  if (ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) return false;
  if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isImportClause(p) || ts.isNamespaceImport(p)) return false;
  if (ts.isBindingElement(p) && p.propertyName === id) return false;
  return true;
}

/** isGlobal tells whether a reference resolves to nothing the file declares or imports (a global of the runtime or of lib.d.ts). */
function isGlobal(checker: ts.TypeChecker, program: ts.Program, id: ts.Identifier): boolean {
  const sym = ts.isShorthandPropertyAssignment(id.parent) ? checker.getShorthandAssignmentValueSymbol(id.parent) : checker.getSymbolAtLocation(id);
  if (sym === undefined) return true;
  const decls = sym.declarations ?? [];
  if (decls.length === 0) return true;
  return decls.every((d) => program.isSourceFileDefaultLibrary(d.getSourceFile()));
}

const GLOBAL_OBJECTS = new Set(["globalThis", "global", "window", "self"]);

/** forbiddenGlobalsIn finds references to forbidden globals and members ("Math.random", "globalThis.setTimeout"). */
function forbiddenGlobalsIn(sf: ts.SourceFile, program: ts.Program, rule: PackageRule): Array<{ node: ts.Node; what: string }> {
  const globals = new Set(rule.forbiddenGlobals ?? []);
  const members = new Set(rule.forbiddenMembers ?? []);
  if (globals.size === 0 && members.size === 0) return [];
  const checker = program.getTypeChecker();
  const out: Array<{ node: ts.Node; what: string }> = [];
  const memberName = (n: ts.Expression): string | undefined => {
    if (ts.isPropertyAccessExpression(n)) return n.name.text;
    if (ts.isElementAccessExpression(n) && ts.isStringLiteralLike(n.argumentExpression)) return n.argumentExpression.text;
    return undefined;
  };
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n) && isValueReference(n)) {
      if (globals.has(n.text) && isGlobal(checker, program, n)) {
        out.push({ node: n, what: n.text });
      } else if ((ts.isPropertyAccessExpression(n.parent) || ts.isElementAccessExpression(n.parent)) && n.parent.expression === n) {
        const m = memberName(n.parent);
        if (m !== undefined) {
          const viaGlobalObject = GLOBAL_OBJECTS.has(n.text) && globals.has(m);
          if ((viaGlobalObject || members.has(`${n.text}.${m}`)) && isGlobal(checker, program, n)) out.push({ node: n.parent, what: `${n.text}.${m}` });
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function scriptKind(file: string): ts.ScriptKind {
  if (/\.tsx$/.test(file)) return ts.ScriptKind.TSX;
  if (/\.[mc]?ts$/.test(file)) return ts.ScriptKind.TS;
  return ts.ScriptKind.JS;
}

/**
 * checkRepo applies RULES and the rules every workspace keeps to the code of every workspace
 * under root.
 */
export function checkRepo(root: string): Report {
  root = resolve(root);
  const rootPkg = readJson(join(root, "package.json"));
  const rootDev = new Set(Object.keys({ ...rootPkg.devDependencies, ...rootPkg.dependencies }));
  const workspaces = findWorkspaces(root);
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const apps = new Set(workspaces.filter((w) => w.rel.startsWith("apps/")).map((w) => w.name));
  const filesOf = new Map(workspaces.map((w) => [w, sourceFiles(w)]));
  const all = [...filesOf.values()].flat();
  // The files a global rule binds go into one program, for symbol lookups. No module resolution
  // and no @types: a name is global when only lib.d.ts declares it, or nothing does. The other
  // files are only parsed.
  const bindsGlobals = (ws: Workspace, file: string): boolean =>
    rulesFor(ws).some((r) => (r.forbiddenGlobals?.length ?? 0) + (r.forbiddenMembers?.length ?? 0) > 0 && (r.scope === "all" || !isTestCode(ws, file)));
  const program = ts.createProgram({
    rootNames: workspaces.flatMap((w) => (filesOf.get(w) ?? []).filter((f) => bindsGlobals(w, f))),
    options: { noResolve: true, types: [], lib: ["lib.es2022.d.ts"], allowJs: true, noEmit: true, target: ts.ScriptTarget.ES2022 },
  });
  const parse = (file: string): ts.SourceFile =>
    program.getSourceFile(file) ?? ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true, scriptKind(file));
  const violations: Violation[] = [];
  for (const ws of workspaces) {
    const rules = rulesFor(ws);
    const deps = new Set(Object.keys({ ...ws.pkg.dependencies, ...ws.pkg.peerDependencies, ...ws.pkg.optionalDependencies }));
    const devDeps = new Set([...deps, ...Object.keys(ws.pkg.devDependencies ?? {}), ...rootDev]);
    for (const file of filesOf.get(ws) ?? []) {
      const sf = parse(file);
      const test = isTestCode(ws, file);
      const relFile = posix(relative(root, file));
      const add = (node: ts.Node, rule: string, message: string): void => {
        const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
        violations.push({ file: relFile, line, rule, message });
      };
      const binding = rules.filter((r) => r.scope === "all" || !test);
      for (const { spec, node } of importsOf(sf)) {
        if (spec.startsWith(".") || spec.startsWith("/")) {
          const target = resolve(dirname(file), spec);
          if (target !== ws.dir && !target.startsWith(ws.dir + sep)) {
            add(node, "outside-package", `"${spec}" reaches outside ${ws.rel}: import the other package by its name`);
          }
          continue;
        }
        const builtin = builtinName(spec);
        if (builtin !== undefined) {
          for (const r of binding) {
            if (r.onlyBuiltins !== undefined && !builtinCovered(r.onlyBuiltins, builtin)) add(node, "only-imports", `${ws.rel} may not import "${spec}". ${r.reason}`);
            else if (r.forbiddenBuiltins !== undefined && builtinCovered(r.forbiddenBuiltins, builtin)) add(node, "forbidden-import", `${ws.rel} may not import "${spec}". ${r.reason}`);
          }
          continue;
        }
        const { name, subpath } = splitPackage(spec);
        if (name === ws.name) continue;
        const target = byName.get(name);
        if (apps.has(name)) {
          add(node, "app-import", `${ws.rel} imports the app ${name}: no package imports from apps/* (DESIGN.md: apps sit on top of the packages)`);
        }
        if (target !== undefined && subpath !== "" && !exportsSubpath(target.pkg, subpath)) {
          add(node, "deep-import", `"${spec}" reaches into ${target.rel} (its src or dist): import "${name}" and use what it exports`);
        }
        for (const r of binding) {
          if (r.onlyPackages !== undefined && !r.onlyPackages.includes(name)) add(node, "only-imports", `${ws.rel} may not import "${name}". ${r.reason}`);
          else if ((r.forbiddenPackages ?? []).some((p) => matchesPackage(p, name))) add(node, "forbidden-import", `${ws.rel} may not import "${name}". ${r.reason}`);
        }
        // An app ships as a bundle with the workspace packages compiled in
        // (scripts/bundle_app.mjs): it declares them as devDependencies, and only what the
        // bundle leaves external as dependencies (which bundle_app.mjs checks).
        const bundledIn = bundles(ws) && target !== undefined && devDeps.has(name);
        if (!(test ? devDeps : deps).has(name) && !bundledIn) {
          add(
            node,
            "undeclared",
            test
              ? `${ws.rel} imports "${name}" in test code but declares it in neither dependencies nor devDependencies (nor the root's devDependencies)`
              : `${ws.rel} imports "${name}" but its package.json does not declare it in dependencies (DESIGN.md: every package declares every package it imports)`,
          );
        }
      }
      for (const r of binding) {
        for (const g of forbiddenGlobalsIn(sf, program, r)) add(g.node, "forbidden-global", `${ws.rel} may not use ${g.what}. ${r.reason}`);
      }
    }
  }
  return { workspaces: workspaces.map((w) => w.rel), files: all.length, violations };
}

/** bundles tells whether ws is an app whose build bundles it with scripts/bundle_app.mjs. */
function bundles(ws: Workspace): boolean {
  return ws.rel.startsWith("apps/") && (ws.pkg.scripts?.["build"] ?? "").includes("bundle_app.mjs");
}

/** format renders violations one per line, as file:line: [rule] message. */
export function format(vs: readonly Violation[]): string {
  return vs.map((v) => `${v.file}:${v.line}: [${v.rule}] ${v.message}`).join("\n");
}
