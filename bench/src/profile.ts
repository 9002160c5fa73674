/**
 * profile.ts is --profile: it starts etcd-ts under `node --cpu-prof` and turns the
 * .cpuprofile each member writes at exit into a summary: the functions with the most self
 * time, and V8's garbage collector, idle and program totals.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** PROFILE_TOP is how many functions a member's profile summary lists. */
export const PROFILE_TOP = 25;

/** PROFILE_WAIT_MS bounds the wait for a stopped member's .cpuprofile to appear, in milliseconds. */
export const PROFILE_WAIT_MS = 5000;

/**
 * PROFILE_STOP_GRACE_MS is how long a profiled member gets between SIGTERM and SIGKILL, in
 * milliseconds: node writes the profile when the process exits, and a SIGKILL loses it.
 */
export const PROFILE_STOP_GRACE_MS = 20_000;

/**
 * isNodeCommand says whether a command runs node: its program is this process's node, or
 * a file named node (node20, node.exe).
 */
export function isNodeCommand(argv: readonly string[]): boolean {
  const first = argv[0];
  if (first === undefined) return false;
  return first === process.execPath || /^node(js)?\d*(\.exe)?$/.test(basename(first));
}

/**
 * cpuProfileArgv returns the command argv with `--cpu-prof --cpu-prof-dir=<dir>` inserted
 * after node, so the process writes its CPU profile into dir when it exits. Throws
 * "bench: ..." when the command does not start with node.
 */
export function cpuProfileArgv(argv: readonly string[], dir: string): string[] {
  if (!isNodeCommand(argv)) {
    throw new Error(
      `bench: --profile runs etcd-ts under node --cpu-prof, but its command "${argv.join(" ")}" does not start with node ` +
        `(give --etcd-ts-cmd as "node <path>/etcd-ts.js ...", or drop --profile)`,
    );
  }
  return [argv[0]!, "--cpu-prof", `--cpu-prof-dir=${dir}`, ...argv.slice(1)];
}

/** CallFrame is where a profile node's function is: V8's callFrame, lines and columns 0-based (-1 unknown). */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** CpuProfileNode is one node of a profile's call tree: a function in one call path. */
export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/**
 * CpuProfile is the part of a .cpuprofile (V8's Profiler.Profile) the summary reads. Times
 * are in microseconds: samples[i] is the node on top of the stack at sample i, taken
 * timeDeltas[i] after the previous sample (after startTime for the first).
 */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** ProfileShare is the self time of one function or pseudo-function. */
export interface ProfileShare {
  /** selfMs is the time the samples with it on top account for, in milliseconds. */
  selfMs: number;
  /** percent is selfMs as a percentage of the profile's sampled time (0..100). */
  percent: number;
  /** samples is how many samples had it on top. */
  samples: number;
}

/** ProfileFunction is one function of a profile summary: its self time over all its call paths. */
export interface ProfileFunction extends ProfileShare {
  /** name is the function's name ("(anonymous)" for none). */
  name: string;
  /** location is "file:line" (1-based, source-mapped when a map is found, long paths shortened); "" for native code. */
  location: string;
  /** busyPercent is selfMs as a percentage of the sampled time that was not (idle) (0..100). */
  busyPercent: number;
}

/**
 * ProfileSummary summarises one process's CPU profile. The sampled time is the base of
 * every percentage: each sample stands for the time up to the next sample (the last one up
 * to endTime), so it is about the profile's span.
 */
export interface ProfileSummary {
  /** durationMs is the profile's span (endTime - startTime), in milliseconds. */
  durationMs: number;
  /** sampledMs is the time all samples account for, in milliseconds. */
  sampledMs: number;
  /** samples is the number of samples. */
  samples: number;
  /** garbageCollector, idle and program are V8's pseudo-functions: GC, waiting for events, V8/native work outside JavaScript. */
  garbageCollector: ProfileShare;
  idle: ProfileShare;
  program: ProfileShare;
  /** top holds the functions with the most self time, most first (the pseudo-functions above are not in it). */
  top: ProfileFunction[];
}

/**
 * MemberProfile is what --profile found for one member: where its profile was kept and its
 * summary, or why there is none.
 */
export interface MemberProfile {
  /** member is the member's name ("default", "infra1"). */
  member: string;
  /** file is the kept .cpuprofile of the member's main thread (Chrome DevTools or speedscope open it). */
  file: string | undefined;
  summary: ProfileSummary | undefined;
  /** error says why there is no summary. */
  error: string | undefined;
}

/** Locate turns a callFrame's script URL and 0-based line and column into a "file:line" location. */
export type Locate = (url: string, lineNumber: number, columnNumber: number) => string;

const PSEUDO = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);

/**
 * parseCpuProfile parses the text of a .cpuprofile and checks the fields the summary
 * uses. Throws "bench: ..." when it is not a CPU profile.
 */
export function parseCpuProfile(text: string): CpuProfile {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (err) {
    throw new Error(`bench: malformed .cpuprofile: ${err instanceof Error ? err.message : String(err)}`);
  }
  const o = p as Partial<CpuProfile> | null;
  if (
    o === null ||
    typeof o !== "object" ||
    !Array.isArray(o.nodes) ||
    !Array.isArray(o.samples) ||
    !Array.isArray(o.timeDeltas) ||
    typeof o.startTime !== "number" ||
    typeof o.endTime !== "number"
  ) {
    throw new Error("bench: malformed .cpuprofile: want nodes, samples, timeDeltas, startTime and endTime");
  }
  if (o.samples.length !== o.timeDeltas.length) {
    throw new Error(`bench: malformed .cpuprofile: ${o.samples.length} samples but ${o.timeDeltas.length} timeDeltas`);
  }
  return o as CpuProfile;
}

/** rawLocation is a callFrame's location without a source map: the script's path and 1-based line. */
function rawLocation(url: string, lineNumber: number): string {
  return url === "" ? "" : `${url}:${lineNumber + 1}`;
}

/**
 * summarizeProfile sums the self time of every function of profile (a function is a name
 * and a callFrame position, over all the call paths it appears in) and returns the `top`
 * functions with the most, and the totals of (garbage collector), (idle) and (program).
 * Sample i stands for the time from it to sample i + 1 (the last one: to endTime); a
 * negative delta (V8 may record samples out of order) counts 0. locate renders a function's
 * location. Throws "bench: ..." when a sample names a node the profile does not have.
 */
export function summarizeProfile(profile: CpuProfile, top: number, locate: Locate = rawLocation): ProfileSummary {
  const byId = new Map<number, CpuProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const { samples, timeDeltas } = profile;
  // Time stamps of the samples, in microseconds.
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of timeDeltas) {
    t += d;
    times.push(t);
  }
  interface Acc {
    frame: CallFrame;
    us: number;
    samples: number;
  }
  const byFunction = new Map<string, Acc>();
  let sampledUs = 0;
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    if (node === undefined) throw new Error(`bench: malformed .cpuprofile: sample ${i} names node ${samples[i]}, which is not in it`);
    const next = i + 1 < times.length ? times[i + 1]! : profile.endTime;
    const us = Math.max(0, next - times[i]!);
    const f = node.callFrame;
    const key = `${f.functionName}\u0000${f.url}\u0000${f.lineNumber}\u0000${f.columnNumber}`;
    let a = byFunction.get(key);
    if (a === undefined) {
      a = { frame: f, us: 0, samples: 0 };
      byFunction.set(key, a);
    }
    a.us += us;
    a.samples++;
    sampledUs += us;
  }
  const percent = (us: number, base: number): number => (base > 0 ? (us * 100) / base : 0);
  const pseudoUs = (name: string): { us: number; samples: number } => {
    let us = 0;
    let n = 0;
    for (const a of byFunction.values()) {
      if (a.frame.functionName === name && a.frame.url === "") {
        us += a.us;
        n += a.samples;
      }
    }
    return { us, samples: n };
  };
  const share = ({ us, samples: n }: { us: number; samples: number }): ProfileShare => ({
    selfMs: us / 1000,
    percent: percent(us, sampledUs),
    samples: n,
  });
  const idleUs = pseudoUs("(idle)");
  const busyUs = sampledUs - idleUs.us;
  const functions = [...byFunction.values()]
    .filter((a) => !(a.frame.url === "" && PSEUDO.has(a.frame.functionName)))
    .sort((a, b) => b.us - a.us || b.samples - a.samples || a.frame.functionName.localeCompare(b.frame.functionName))
    .slice(0, Math.max(0, top))
    .map(
      (a): ProfileFunction => ({
        name: a.frame.functionName === "" ? "(anonymous)" : a.frame.functionName,
        location: a.frame.url === "" ? "" : locate(a.frame.url, a.frame.lineNumber, a.frame.columnNumber),
        selfMs: a.us / 1000,
        percent: percent(a.us, sampledUs),
        busyPercent: percent(a.us, busyUs),
        samples: a.samples,
      }),
    );
  return {
    durationMs: (profile.endTime - profile.startTime) / 1000,
    sampledMs: sampledUs / 1000,
    samples: samples.length,
    garbageCollector: share(pseudoUs("(garbage collector)")),
    idle: share(idleUs),
    program: share(pseudoUs("(program)")),
    top: functions,
  };
}

/** SHORT_PATH is the longest path shortenPath leaves whole, in characters. */
const SHORT_PATH = 48;

/**
 * shortenPath makes a script path or URL fit a table: a file URL becomes a path, a path in
 * the repository becomes relative to it, a path in node_modules starts at its last
 * node_modules; what is still longer than max characters keeps its last components
 * after ".../".
 */
export function shortenPath(pathOrUrl: string, repoRoot: string, max = SHORT_PATH): string {
  let p = pathOrUrl;
  if (p.startsWith("file://")) {
    try {
      p = fileURLToPath(p);
    } catch {
      // not a valid file URL: keep it as it is
    }
  }
  if (isAbsolute(p)) {
    const rel = relative(repoRoot, p);
    if (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel)) p = rel;
  }
  const nm = p.lastIndexOf(`node_modules${sep}`);
  if (nm > 0) p = p.slice(nm);
  if (p.length <= max) return p;
  const parts = p.split(sep);
  let tail = parts.pop() ?? p;
  while (parts.length > 0 && tail.length + parts[parts.length - 1]!.length + 5 <= max) tail = `${parts.pop()!}${sep}${tail}`;
  return `...${sep}${tail}`;
}

/** sourceMapOf loads the source map of the script at path (its sourceMappingURL, or path.map), or undefined. */
function sourceMapOf(path: string): { map: SourceMap; dir: string } | undefined {
  try {
    const text = readFileSync(path, "utf8");
    const m = /\/\/# sourceMappingURL=([^\s'"]+)\s*$/.exec(text.slice(-4096));
    const ref = m?.[1];
    if (ref !== undefined && ref.startsWith("data:")) return undefined;
    const mapPath = ref !== undefined ? resolve(dirname(path), ref) : `${path}.map`;
    if (!existsSync(mapPath)) return undefined;
    const payload = JSON.parse(readFileSync(mapPath, "utf8")) as SourceMapPayload;
    return { map: new SourceMap(payload), dir: resolve(dirname(mapPath), payload.sourceRoot ?? "") };
  } catch {
    return undefined;
  }
}

/**
 * sourceLocator returns a Locate that maps a location in a file:// script with a source
 * map (etcd-ts's bundle) to the original source's file and line, and shortens every path
 * with shortenPath. Maps are read once per script; a script without one keeps its own
 * file and line.
 */
export function sourceLocator(repoRoot: string): Locate {
  const maps = new Map<string, { map: SourceMap; dir: string } | undefined>();
  return (url, lineNumber, columnNumber) => {
    if (url.startsWith("file://") && lineNumber >= 0) {
      let path: string | undefined;
      try {
        path = fileURLToPath(url);
      } catch {
        path = undefined;
      }
      if (path !== undefined) {
        if (!maps.has(path)) maps.set(path, sourceMapOf(path));
        const sm = maps.get(path);
        const e = sm?.map.findEntry(lineNumber, Math.max(0, columnNumber));
        if (sm !== undefined && e !== undefined && "originalSource" in e) {
          const src = e.originalSource.startsWith("file://") ? fileURLToPath(e.originalSource) : resolve(sm.dir, e.originalSource);
          return `${shortenPath(src, repoRoot)}:${e.originalLine + 1}`;
        }
      }
    }
    return `${shortenPath(url, repoRoot)}:${lineNumber + 1}`;
  };
}

/**
 * readProfileSummary reads the .cpuprofile at path and summarises it (summarizeProfile),
 * locations source-mapped and shortened relative to repoRoot.
 */
export function readProfileSummary(path: string, top: number, repoRoot: string): ProfileSummary {
  return summarizeProfile(parseCpuProfile(readFileSync(path, "utf8")), top, sourceLocator(repoRoot));
}

/** CPU_PROFILE_NAME matches node's profile file names: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile. */
const CPU_PROFILE_NAME = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/;

/**
 * mainThreadProfile picks the main thread's profile from the names of the files in a
 * --cpu-prof-dir: node's name with thread id 0 (each worker thread writes one of its own,
 * never picked, and usually before the main thread's); failing that, the only .cpuprofile
 * not named as node names them (--cpu-prof-name). undefined if there is none.
 */
export function mainThreadProfile(names: readonly string[]): string | undefined {
  const profiles = names.filter((n) => n.endsWith(".cpuprofile")).sort();
  const main = profiles.find((n) => CPU_PROFILE_NAME.exec(n)?.[1] === "0");
  if (main !== undefined) return main;
  const other = profiles.filter((n) => !CPU_PROFILE_NAME.test(n));
  return other.length === 1 ? other[0] : undefined;
}

/**
 * waitCpuProfile waits up to waitMs for the main thread's .cpuprofile to appear in dir
 * (node writes it as the process exits) and returns its path, or undefined.
 */
export async function waitCpuProfile(dir: string, waitMs: number): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // not there (yet)
    }
    const name = mainThreadProfile(names);
    if (name !== undefined) return resolve(dir, name);
    if (Date.now() >= deadline) return undefined;
    await sleep(100);
  }
}
