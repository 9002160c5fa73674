/**
 * tabwrite formats text the way Go's text/tabwriter does with minwidth 0, tabwidth 8,
 * padding 1 and padchar '\t' (the settings etcdctl's help uses): tab-terminated cells of
 * consecutive lines form columns, each padded with tabs to a common multiple of 8.
 */
export function tabwrite(text: string): string {
  const tabwidth = 8;
  const lines = text.split("\n");
  const trailing = lines.pop(); // text after the last newline (normally "")
  const cells = lines.map((l) => l.split("\t"));
  const widths: number[] = [];
  let out = "";
  const runeLen = (s: string): number => [...s].length;

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const line = cells[i] as string[];
      for (let j = 0; j < line.length; j++) {
        const c = line[j] as string;
        out += c;
        if (j < widths.length && j < line.length - 1) {
          const cellw = Math.ceil((widths[j] as number) / tabwidth) * tabwidth;
          const n = cellw - runeLen(c);
          out += "\t".repeat(Math.ceil(n / tabwidth));
        }
      }
      out += "\n";
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      const line = cells[i] as string[];
      if (column >= line.length - 1) continue;
      writeLines(line0, i);
      line0 = i;
      let width = 0;
      for (; i < line1; i++) {
        const l = cells[i] as string[];
        if (column >= l.length - 1) break;
        width = Math.max(width, runeLen(l[column] as string) + 1);
      }
      widths.push(width);
      format(line0, i);
      widths.pop();
      line0 = i;
      i--; // the loop's i++ revisits line i, which ended the block
    }
    writeLines(line0, line1);
  };

  format(0, cells.length);
  return out + (trailing ?? "");
}
