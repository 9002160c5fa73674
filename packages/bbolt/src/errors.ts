/**
 * BboltCorruptError reports a bbolt file that cannot be read as one: no valid meta page
 * (message "bbolt: invalid database: ..."), or a structural fault met while walking the tree
 * (message "bbolt: page <id>: ..."). pgid names the faulty page when there is one.
 */
export class BboltCorruptError extends Error {
  /** pgid is the id of the page found faulty, or undefined when the fault is not in one page. */
  readonly pgid: number | undefined;

  constructor(message: string, pgid?: number) {
    super(message);
    this.name = "BboltCorruptError";
    this.pgid = pgid;
  }
}

/**
 * BboltInputError reports input the writer refuses: buckets or keys out of byte order or
 * repeated, empty keys, keys or values above bbolt's limits, a bad option. The message starts
 * with "bbolt writer: ". Nothing written before it forms a valid file.
 */
export class BboltInputError extends Error {
  constructor(message: string) {
    super(`bbolt writer: ${message}`);
    this.name = "BboltInputError";
  }
}

/** hexPreview renders bytes for messages: hex, cut after 32 bytes. */
export function hexPreview(b: Uint8Array): string {
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 32)).toString("hex");
  return b.length > 32 ? `${head}...(${b.length} bytes)` : `${head === "" ? "<empty>" : head}`;
}

/** showBytes renders a key or name for messages: quoted when it is printable ASCII, else as hexPreview. */
export function showBytes(b: Uint8Array): string {
  for (const c of b) if (c < 0x20 || c > 0x7e) return hexPreview(b);
  return b.length === 0 ? "<empty>" : JSON.stringify(Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1"));
}
