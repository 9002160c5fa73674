/**
 * exposition.ts reads the Prometheus text exposition format for the metrics suites.
 */

/** Sample is one `name{label="value",...} value` line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrape is one parsed exposition: its samples and the type each metric family declares. */
export interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

/** parseExposition reads HELP/TYPE comments and sample lines; it throws on a line that is neither. */
export function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t !== null) {
      types.set(t[1] as string, t[2] as string);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { types, samples };
}
