import { ExitCode, ExitError, exitWithError, type Io } from "./io.js";

/** GO_SPACE is the white space of Go's unicode.IsSpace (strings.TrimSpace, fmt's scanning). */
const GO_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, "g");
const IS_SPACE = new RegExp(`^[${GO_SPACE}]$`, "u");

/** goTrimSpace is Go's strings.TrimSpace. */
export function goTrimSpace(s: string): string {
  return s.replace(TRIM, "");
}

/** readLineBytes reads stdin a byte at a time up to "\n" (dropped) or EOF, as speakeasy does. */
async function readLineBytes(io: Io): Promise<Buffer> {
  const out: number[] = [];
  for (;;) {
    const b = await io.stdin.readByte();
    if (b === undefined || b === 0x0a) return Buffer.from(out);
    out.push(b);
  }
}

/**
 * askPassword is speakeasy.Ask as etcdctl calls it: the prompt on stdout, terminal echo off,
 * one line from stdin (a trailing "\r" and surrounding white space dropped), echo back on,
 * then a newline on stdout. A stdin that is no terminal is read all the same (stty complains
 * on stderr). SIGINT or SIGTERM while waiting turns echo back on and exits 255, as etcdctl.
 * It rejects with speakeasy's error when echo cannot be turned off.
 */
export async function askPassword(io: Io, prompt: string): Promise<string> {
  io.out(prompt);
  try {
    await io.setEcho?.(false);
  } catch (e) {
    io.out("\n");
    throw new Error(`failed turning off console echo for password entry:\n\t${(e as Error).message}`);
  }
  let off: (() => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    off = io.onSignal?.(() => reject(new ExitError(255, null)));
  });
  let line: Buffer;
  try {
    line = await Promise.race([readLineBytes(io), interrupted]);
  } catch (e) {
    off?.();
    await io.setEcho?.(true).catch(() => {});
    throw e;
  }
  off?.();
  await io.setEcho?.(true).catch(() => {});
  io.out("\n");
  return goTrimSpace(line.toString("utf8").replace(/\r$/, ""));
}

/**
 * readPasswordInteractive is etcdctl's prompt for a new password of user name: asked twice,
 * it must be non-empty and the same both times (exit 128 otherwise).
 */
export async function readPasswordInteractive(io: Io, name: string): Promise<string> {
  const ask = async (prompt: string): Promise<string> => {
    try {
      return await askPassword(io, prompt);
    } catch (e) {
      if (e instanceof ExitError) throw e;
      return exitWithError(ExitCode.BadArgs, `failed to ask password: ${(e as Error).message}`);
    }
  };
  const p1 = await ask(`Password of ${name}: `);
  if (p1 === "") exitWithError(ExitCode.BadArgs, "empty password");
  const p2 = await ask(`Type password of ${name} again for confirmation: `);
  if (p1 !== p2) exitWithError(ExitCode.BadArgs, "given passwords are different");
  return p1;
}

/**
 * RuneReader reads UTF-8 runes from stdin a byte at a time, with one rune of push-back, like
 * the reader fmt wraps around os.Stdin (what it has pushed back is lost when scanning ends).
 */
class RuneReader {
  private readonly io: Io;
  private pending: number[] = [];
  private back: string | undefined;

  constructor(io: Io) {
    this.io = io;
  }

  private async byte(): Promise<number | undefined> {
    return this.pending.shift() ?? (await this.io.stdin.readByte());
  }

  /** next is the next rune (U+FFFD for an invalid byte), or undefined at EOF. */
  async next(): Promise<string | undefined> {
    if (this.back !== undefined) {
      const r = this.back;
      this.back = undefined;
      return r;
    }
    const b0 = await this.byte();
    if (b0 === undefined) return undefined;
    if (b0 < 0x80) return String.fromCharCode(b0);
    const need = b0 >= 0xc2 && b0 <= 0xdf ? 2 : b0 >= 0xe0 && b0 <= 0xef ? 3 : b0 >= 0xf0 && b0 <= 0xf4 ? 4 : 1;
    const bytes = [b0];
    while (bytes.length < need) {
      const b = await this.byte();
      if (b === undefined) break;
      bytes.push(b);
    }
    const s = Buffer.from(bytes).toString("utf8");
    const first = String.fromCodePoint(s.codePointAt(0) as number);
    if (first !== "\ufffd") return first;
    // An invalid sequence: one byte is the error rune, the rest is read again.
    this.pending.unshift(...bytes.slice(1));
    return "\ufffd";
  }

  unread(r: string): void {
    this.back = r;
  }
}

/**
 * scanWord is Go's fmt.Scanf("%s", &s) on stdin as etcdctl uses it for a password: blanks
 * skipped, then the run of non-space characters up to (and consuming) the next space,
 * newline or EOF. A newline or EOF before any character gives "" (Scanf's error, which
 * etcdctl ignores).
 */
export async function scanWord(io: Io): Promise<string> {
  const rr = new RuneReader(io);
  for (;;) {
    const r = await rr.next();
    if (r === undefined || r === "\n") return "";
    if (!IS_SPACE.test(r)) {
      rr.unread(r);
      break;
    }
  }
  let word = "";
  for (;;) {
    const r = await rr.next();
    if (r === undefined || IS_SPACE.test(r)) return word;
    word += r;
  }
}
