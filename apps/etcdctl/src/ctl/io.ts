/** Exit codes of etcdctl (ctlv3/command/error.go). */
export const ExitCode = {
  Success: 0,
  Error: 1,
  BadConnection: 2,
  InvalidInput: 3,
  BadFeature: 4,
  Interrupted: 5,
  IO: 6,
  BadArgs: 128,
} as const;

/**
 * ExitError ends the command with code; a non-null message is printed as "Error: <message>"
 * on stderr first (etcdctl's ExitWithError), a null one exits silently (os.Exit).
 */
export class ExitError extends Error {
  readonly code: number;
  readonly exitMessage: string | null;

  constructor(code: number, message: string | null) {
    super(message ?? `exit ${code}`);
    this.code = code;
    this.exitMessage = message;
  }
}

/** exitWithError throws the ExitError for code and message. */
export function exitWithError(code: number, message: string): never {
  throw new ExitError(code, message);
}

/** LineReader reads stdin incrementally, so interactive input works line by line. */
export interface LineReader {
  /** readLine resolves the next line including its "\n"; at EOF, the partial rest with eof=true. */
  readLine(): Promise<{ line: string; eof: boolean }>;
  /** readAll resolves everything not yet read. */
  readAll(): Promise<Buffer>;
  /** readByte resolves the next byte, or undefined at EOF (Go's byte-at-a-time reads of os.Stdin). */
  readByte(): Promise<number | undefined>;
}

/** Io is the process boundary of a command run: output streams, stdin, environment, clock. */
export interface Io {
  out(data: string | Buffer): void;
  err(data: string | Buffer): void;
  stdin: LineReader;
  /** env lists the environment in the process's order (as Go's os.Environ does). */
  env: Array<[string, string]>;
  now(): Date;
  /**
   * argv is the command line as given (without node and the script), for the commands that
   * read it raw as etcdctl reads os.Args (watch's `--` exec form).
   */
  argv?: string[];
  /**
   * inheritStdio lets commands that run programs (watch, lock) hand them the process's own
   * stdout and stderr, as Go's exec does with os.Stdout; otherwise their output is piped
   * through out and err.
   */
  inheritStdio?: boolean;
  /**
   * onSignal registers a handler for SIGINT and SIGTERM (lock, elect); it returns the function
   * that removes it. Without it, commands wait for no signal.
   */
  onSignal?: (handler: () => void) => () => void;
  /**
   * setEcho turns the terminal's echo off or on around a password prompt the way etcdctl does
   * (running `stty -echo` / `stty echo` on the process's stdin, stdout and stderr, so stty's
   * complaint about a stdin that is no terminal reaches stderr). It rejects with Go's error
   * text when stty cannot be started. Without it, echo is left alone.
   */
  setEcho?: (on: boolean) => Promise<void>;
}

/** streamLineReader adapts an async byte stream (process.stdin) to a LineReader. */
export function streamLineReader(stream: AsyncIterable<Buffer | string>): LineReader {
  // The iterator starts reading, so it is only created once a command asks for input.
  let it: AsyncIterator<Buffer | string> | undefined;
  let buf = Buffer.alloc(0);
  let ended = false;
  const more = async (): Promise<void> => {
    if (ended) return;
    it ??= stream[Symbol.asyncIterator]();
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      return;
    }
    const chunk = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
    buf = Buffer.concat([buf, chunk]);
  };
  return {
    async readLine() {
      for (;;) {
        const nl = buf.indexOf(0x0a);
        if (nl >= 0) {
          const line = buf.subarray(0, nl + 1).toString("utf8");
          buf = buf.subarray(nl + 1);
          return { line, eof: false };
        }
        if (ended) {
          const line = buf.toString("utf8");
          buf = Buffer.alloc(0);
          return { line, eof: true };
        }
        await more();
      }
    },
    async readAll() {
      while (!ended) await more();
      const all = buf;
      buf = Buffer.alloc(0);
      return all;
    },
    async readByte() {
      while (buf.length === 0 && !ended) await more();
      if (buf.length === 0) return undefined;
      const b = buf[0] as number;
      buf = buf.subarray(1);
      return b;
    },
  };
}

/** bufferLineReader is a LineReader over fixed input (tests, txn requests). */
export function bufferLineReader(data: string | Buffer): LineReader {
  return streamLineReader(
    (async function* () {
      yield typeof data === "string" ? Buffer.from(data) : data;
    })(),
  );
}
