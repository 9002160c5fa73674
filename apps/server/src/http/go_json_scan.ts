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
  // The usual case, a valid value without line breaks, in one linear scan and no allocation.
  if (isStdBase64(s)) return undefined;
  // at[k] is the index in s of the k-th character that is not CR or LF.
  const at = new Uint32Array(s.length);
  let n = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c !== 13 && c !== 10) at[n++] = k;
  }
  const fail = (pos: number): string => `illegal base64 data at input byte ${pos}`;
  for (let q = 0; q < n; q += 4) {
    for (let j = 0; j < 4; j++) {
      if (q + j >= n) return fail(q < n ? (at[q] as number) : s.length);
      const pos = at[q + j] as number;
      const c = s[pos] as string;
      if (c === "=") {
        if (j < 2) return fail(pos);
        if (j === 2) {
          if (q + 3 >= n) return fail(s.length);
          const next = at[q + 3] as number;
          if (s[next] !== "=") return fail(next);
        }
        if (q + 4 < n) return fail(at[q + 4] as number);
        return undefined;
      }
      if (!isBase64Char(s.charCodeAt(pos))) return fail(pos);
    }
  }
  return undefined;
}

/** isStdBase64: s is padded standard-alphabet base64 with no line breaks. */
function isStdBase64(s: string): boolean {
  const n = s.length;
  if (n % 4 !== 0) return false;
  let end = n;
  if (n > 0 && s.charCodeAt(n - 1) === 61) end = s.charCodeAt(n - 2) === 61 ? n - 2 : n - 1;
  for (let k = 0; k < end; k++) {
    if (!isBase64Char(s.charCodeAt(k))) return false;
  }
  return true;
}
/** isBase64Char: UTF-16 code c is in the standard base64 alphabet. */
function isBase64Char(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
}

/**
 * quoteWideIntegers puts quotes around each integer literal of a JSON text that a double
 * cannot hold exactly (more than 15 digits), outside strings, so JSON.parse keeps its digits:
 * Go's jsonpb reads a bare 64-bit integer from its text (a lease ID such as
 * 7587848943239472601 stays exact), and the proto3 JSON reader takes quoted integers alike.
 * The text must be one well-formed JSON value (firstJsonValue's).
 */
export function quoteWideIntegers(text: string): string {
  let out = "";
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string, its escapes included.
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const lit = text.slice(i, j);
      if (/^-?[0-9]{16,}$/.test(lit)) {
        out += `${text.slice(from, i)}"${lit}"`;
        from = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  return from === 0 ? text : out + text.slice(from);
}
