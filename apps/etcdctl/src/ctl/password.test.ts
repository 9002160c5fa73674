import { describe, expect, it } from "vitest";
import { bufferLineReader, ExitError, type Io } from "./io.js";
import { askPassword, goTrimSpace, readPasswordInteractive, scanWord } from "./password.js";

/** fakeIo reads stdin from input and records stdout and every echo switch. */
function fakeIo(input: string | Buffer, opts: { echoFails?: boolean } = {}): { io: Io; out: () => string; echo: boolean[] } {
  let out = "";
  const echo: boolean[] = [];
  const io: Io = {
    out: (d) => void (out += d.toString()),
    err: () => {},
    stdin: bufferLineReader(input),
    env: [],
    now: () => new Date(0),
    setEcho: async (on) => {
      if (opts.echoFails === true) throw new Error("no such file or directory");
      echo.push(on);
    },
  };
  return { io, out: () => out, echo };
}

describe("goTrimSpace", () => {
  it("trims Go's white space only", () => {
    expect(goTrimSpace(" \t\u00a0pw\u0085\r\n")).toBe("pw");
    expect(goTrimSpace("\ufeffpw")).toBe("\ufeffpw");
  });
});

describe("askPassword", () => {
  it("prompts, turns echo off, reads one line and leaves the rest", async () => {
    const f = fakeIo(" secret \r\nnext\n");
    expect(await askPassword(f.io, "Password: ")).toBe("secret");
    expect(f.out()).toBe("Password: \n");
    expect(f.echo).toEqual([false, true]);
    expect(await f.io.stdin.readLine()).toEqual({ line: "next\n", eof: false });
  });

  it("reads what is left at EOF", async () => {
    expect(await askPassword(fakeIo("pw").io, "P: ")).toBe("pw");
    expect(await askPassword(fakeIo("").io, "P: ")).toBe("");
  });

  it("fails like speakeasy when echo cannot be turned off", async () => {
    const f = fakeIo("pw\n", { echoFails: true });
    await expect(askPassword(f.io, "P: ")).rejects.toThrow(
      "failed turning off console echo for password entry:\n\tno such file or directory",
    );
    expect(f.out()).toBe("P: \n");
  });
});

describe("readPasswordInteractive", () => {
  const exit = async (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => undefined,
      (e: unknown) => (e instanceof ExitError ? [e.code, e.exitMessage] : e),
    );

  it("asks twice and wants the same non-empty password", async () => {
    const f = fakeIo("pw\npw\n");
    expect(await readPasswordInteractive(f.io, "bob")).toBe("pw");
    expect(f.out()).toBe("Password of bob: \nType password of bob again for confirmation: \n");
    expect(await exit(readPasswordInteractive(fakeIo("\n").io, "bob"))).toEqual([128, "empty password"]);
    expect(await exit(readPasswordInteractive(fakeIo("a\nb\n").io, "bob"))).toEqual([128, "given passwords are different"]);
    expect(await exit(readPasswordInteractive(fakeIo("", { echoFails: true }).io, "bob"))).toEqual([
      128,
      "failed to ask password: failed turning off console echo for password entry:\n\tno such file or directory",
    ]);
  });
});

describe("scanWord", () => {
  it("reads one word like fmt.Scanf(\"%s\")", async () => {
    expect(await scanWord(fakeIo("  pw rest\n").io)).toBe("pw");
    expect(await scanWord(fakeIo("pw").io)).toBe("pw");
    expect(await scanWord(fakeIo("\tp\u00e9\u3000x").io)).toBe("p\u00e9");
    expect(await scanWord(fakeIo("\r\npw\n").io)).toBe("");
    expect(await scanWord(fakeIo("\npw\n").io)).toBe("");
    expect(await scanWord(fakeIo("").io)).toBe("");
    expect(await scanWord(fakeIo(Buffer.from([0x61, 0xff, 0x62, 0x0a])).io)).toBe("a\ufffdb");
  });

  it("consumes the word and the one character after it", async () => {
    const f = fakeIo("pw next\nline\n");
    expect(await scanWord(f.io)).toBe("pw");
    expect(await f.io.stdin.readLine()).toEqual({ line: "next\n", eof: false });
  });
});
