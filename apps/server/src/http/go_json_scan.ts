/**
 * go_json_scan.ts reads the first JSON value of a request body the way Go's encoding/json
 * Decoder does for grpc-gateway: leading whitespace skipped, one value read, anything after
 * it ignored, and a malformed value reported with Go's scanner texts ("invalid character 'k'
 * looking for beginning of value", "unexpected EOF").
 */

/** GoJsonError is a JSON error worded as Go's encoding/json words it. */
export class GoJsonError extends Error {}

/**
 * FirstValue is the outcome of scanning a body: its first value's text and the offset just
 * after it, or no text (only whitespace).
 */
export type FirstValue = { text: string; end: number } | { text: undefined; end: number };

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** quoteChar is Go's quoteChar: the byte in single quotes, escaped as strconv.Quote escapes it. */
export function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  const named: Record<number, string> = { 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r" };
  const n = named[c];
  if (n !== undefined) return `'${n}'`;
  return c < 0x80 ? `'\\x${c.toString(16).padStart(2, "0")}'` : `'\\x${c.toString(16)}'`;
}

/**
 * firstJsonValue scans `body` (bytes) for its first JSON value. Whitespace only: no value
 * (Go's io.EOF, which the gateway treats as an empty request). It throws GoJsonError with
 * Go's text for a syntax error, and "unexpected EOF" for a value cut short.
 */
export function firstJsonValue(body: Uint8Array): FirstValue {
  let i = 0;
  const n = body.length;
  const eof = (): never => {
    throw new GoJsonError("unexpected EOF");
  };
  const bad = (context: string): never => {
    throw new GoJsonError(`invalid character ${quoteChar(body[i] as number)} ${context}`);
  };
  const skipWs = (): void => {
    while (i < n && WS.has(body[i] as number)) i++;
  };
  const literal = (word: string): void => {
    for (let k = 1; k < word.length; k++) {
      i++;
      if (i >= n) eof();
      if (body[i] !== word.charCodeAt(k)) bad(`in literal ${word} (expecting ${quoteChar(word.charCodeAt(k))})`);
    }
    i++;
  };
  const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
  const number = (top: boolean): void => {
    // Go's scanner: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    if (body[i] === 0x2d) {
      i++;
      if (i >= n) eof();
      if (!isDigit(body[i])) bad("in numeric literal");
    }
    if (body[i] === 0x30) i++;
    else while (isDigit(body[i])) i++;
    if (body[i] === 0x2e) {
      i++;
      if (i >= n) eof();
      if (!isDigit(body[i])) bad("after decimal point in numeric literal");
      while (isDigit(body[i])) i++;
    }
    if (body[i] === 0x65 || body[i] === 0x45) {
      i++;
      if (body[i] === 0x2b || body[i] === 0x2d) i++;
      if (i >= n) eof();
      if (!isDigit(body[i])) bad("in exponent of numeric literal");
      while (isDigit(body[i])) i++;
    }
    // A number at the top level ends at EOF as well as at a delimiter.
    if (!top && i >= n) eof();
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= n) eof();
      const c = body[i] as number;
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) bad("in string literal");
      if (c === 0x5c) {
        i++;
        if (i >= n) eof();
        const e = body[i] as number;
        if (e === 0x75) {
          for (let k = 0; k < 4; k++) {
            i++;
            if (i >= n) eof();
            if (!/[0-9a-fA-F]/.test(String.fromCharCode(body[i] as number))) bad("in \\u hexadecimal character escape");
          }
        } else if (!'"\\/bfnrt'.includes(String.fromCharCode(e))) {
          bad("in string escape code");
        }
      }
      i++;
    }
  };
  const value = (top: boolean): void => {
    skipWs();
    if (i >= n) eof();
    const c = body[i] as number;
    if (c === 0x7b) return object();
    if (c === 0x5b) return array();
    if (c === 0x22) return string();
    if (c === 0x2d || isDigit(c)) return number(top);
    if (c === 0x74) return literal("true");
    if (c === 0x66) return literal("false");
    if (c === 0x6e) return literal("null");
    bad("looking for beginning of value");
  };
  const object = (): void => {
    i++;
    skipWs();
    if (i >= n) eof();
    if (body[i] === 0x7d) {
      i++;
      return;
    }
    for (;;) {
      skipWs();
      if (i >= n) eof();
      if (body[i] !== 0x22) bad("looking for beginning of object key string");
      string();
      skipWs();
      if (i >= n) eof();
      if (body[i] !== 0x3a) bad("after object key");
      i++;
      value(false);
      skipWs();
      if (i >= n) eof();
      if (body[i] === 0x2c) {
        i++;
        continue;
      }
      if (body[i] === 0x7d) {
        i++;
        return;
      }
      bad("after object key:value pair");
    }
  };
  const array = (): void => {
    i++;
    skipWs();
    if (i >= n) eof();
    if (body[i] === 0x5d) {
      i++;
      return;
    }
    for (;;) {
      value(false);
      skipWs();
      if (i >= n) eof();
      if (body[i] === 0x2c) {
        i++;
        continue;
      }
      if (body[i] === 0x5d) {
        i++;
        return;
      }
      bad("after array element");
    }
  };
  skipWs();
  if (i >= n) return { text: undefined, end: n };
  const start = i;
  value(true);
  return { text: Buffer.from(body.subarray(start, i)).toString("utf8"), end: i };
}

/**
 * goBase64Error is the error Go's base64.StdEncoding gives decoding s (padding required, no
 * URL alphabet; CR and LF skipped), or undefined when s decodes.
 */
export function goBase64Error(s: string): string | undefined {
  const alphabet = /[A-Za-z0-9+/]/;
  const chars: { c: string; at: number }[] = [];
  for (let k = 0; k < s.length; k++) {
    const c = s[k] as string;
    if (c !== "\r" && c !== "\n") chars.push({ c, at: k });
  }
  const fail = (at: number): string => `illegal base64 data at input byte ${at}`;
  for (let q = 0; q < chars.length; q += 4) {
    for (let j = 0; j < 4; j++) {
      const ch = chars[q + j];
      if (ch === undefined) return fail(chars[q]?.at ?? s.length);
      if (ch.c === "=") {
        if (j < 2) return fail(ch.at);
        if (j === 2) {
          const next = chars[q + 3];
          if (next === undefined) return fail(s.length);
          if (next.c !== "=") return fail(next.at);
        }
        const rest = chars[q + 4];
        if (rest !== undefined) return fail(rest.at);
        return undefined;
      }
      if (!alphabet.test(ch.c)) return fail(ch.at);
    }
  }
  return undefined;
}
