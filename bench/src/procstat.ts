import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

/** clockTicks returns the kernel's clock ticks per second (USER_HZ), 100 if getconf fails. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 2000 }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * parseCpuTicks returns utime + stime (fields 14 and 15, in clock ticks) from the text of
 * /proc/<pid>/stat. The command name (field 2) may hold spaces, so fields are counted from
 * the last ")".
 */
export function parseCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new Error("bench: malformed /proc stat line");
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] is field 3 (state), so field 14 is fields[11] and field 15 is fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error("bench: malformed /proc stat line");
  return utime + stime;
}

/**
 * processCpuSeconds returns the CPU time (user + system, all threads) process pid has used,
 * in seconds, or undefined when it cannot be read (process gone, no /proc).
 */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    return parseCpuTicks(readFileSync(`/proc/${pid}/stat`, "latin1")) / clockTicks();
  } catch {
    return undefined;
  }
}

/**
 * parseHostBusyTicks returns the busy time (all fields except idle and iowait) of the
 * aggregate "cpu" line of /proc/stat, in clock ticks summed over all CPUs.
 */
export function parseHostBusyTicks(stat: string): number {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) throw new Error("bench: /proc/stat has no cpu line");
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  let busy = 0;
  for (let i = 0; i < Math.min(f.length, 8); i++) if (i !== 3 && i !== 4) busy += f[i] ?? 0;
  if (!Number.isFinite(busy)) throw new Error("bench: malformed /proc/stat cpu line");
  return busy;
}

/** hostBusySeconds returns the CPU time the whole machine has been busy, in seconds, or undefined without /proc. */
export function hostBusySeconds(): number | undefined {
  try {
    return parseHostBusyTicks(readFileSync("/proc/stat", "latin1")) / clockTicks();
  } catch {
    return undefined;
  }
}

/**
 * parseVmRssBytes returns the resident set size from the text of /proc/<pid>/status: its
 * VmRSS line (in kB, which the kernel means as 1024 bytes), in bytes; undefined when the
 * text has no VmRSS line (a zombie or a kernel thread).
 */
export function parseVmRssBytes(status: string): number | undefined {
  const m = /^VmRSS:\s*(\d+)\s*kB\s*$/m.exec(status);
  if (m === null) return undefined;
  return Number(m[1] ?? Number.NaN) * 1024;
}

/**
 * parseVmHwmBytes returns the peak resident set size from the text of /proc/<pid>/status:
 * its VmHWM line ("high water mark", in kB meaning 1024 bytes), in bytes; undefined when
 * the text has no VmHWM line (a zombie or a kernel thread).
 */
export function parseVmHwmBytes(status: string): number | undefined {
  const m = /^VmHWM:\s*(\d+)\s*kB\s*$/m.exec(status);
  if (m === null) return undefined;
  return Number(m[1] ?? Number.NaN) * 1024;
}

/**
 * processPeakRssBytes returns the peak resident set size of process pid (VmHWM: the most it
 * has held since it started or since resetPeakRss), in bytes, or undefined when it cannot
 * be read (process gone, no /proc).
 */
export function processPeakRssBytes(pid: number): number | undefined {
  try {
    return parseVmHwmBytes(readFileSync(`/proc/${pid}/status`, "latin1"));
  } catch {
    return undefined;
  }
}

/**
 * resetPeakRss resets the peak resident set size (VmHWM) of process pid to its current RSS
 * by writing "5" to /proc/<pid>/clear_refs (Linux 4.0 and later; the writer must be allowed
 * to ptrace the process, as the user who started it is). Returns false when that cannot be
 * written (no /proc, process gone, not permitted), so the peak read later is not a peak of
 * the measured span.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * processRssBytes returns the resident set size of process pid (all its threads), in bytes,
 * or undefined when it cannot be read (process gone, no /proc).
 */
export function processRssBytes(pid: number): number | undefined {
  try {
    return parseVmRssBytes(readFileSync(`/proc/${pid}/status`, "latin1"));
  } catch {
    return undefined;
  }
}
