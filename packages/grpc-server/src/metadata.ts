/** HeaderMap is request header fields by lower-case name; a repeated name may hold every value. */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** RESERVED holds the request headers that are gRPC protocol, not call metadata. */
const RESERVED = new Set(["content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent"]);

/**
 * Metadata is a call's request metadata: the HTTP/2 headers other than pseudo-headers and
 * gRPC's own. Keys are lower case. Values of keys ending in "-bin" are base64 on the wire and
 * read as bytes with getBinary.
 */
export class Metadata {
  constructor(private readonly headers: HeaderMap) {}

  /** get returns the first value of key, or undefined. */
  get(key: string): string | undefined {
    const v = this.raw(key);
    return Array.isArray(v) ? v[0] : v;
  }

  /** getAll returns every value of key (a comma-joined header counts once). */
  getAll(key: string): string[] {
    const v = this.raw(key);
    if (v === undefined) return [];
    return Array.isArray(v) ? v : [v];
  }

  /** getBinary decodes the base64 values of a "-bin" key (padded or not, comma-separated or repeated). */
  getBinary(key: string): Buffer[] {
    const out: Buffer[] = [];
    for (const v of this.getAll(key)) for (const part of v.split(",")) out.push(Buffer.from(part.trim(), "base64"));
    return out;
  }

  private raw(key: string): string | string[] | undefined {
    const k = key.toLowerCase();
    if (RESERVED.has(k) || k.startsWith(":")) return undefined;
    return this.headers[k];
  }

  /** keys lists the metadata keys present. */
  keys(): string[] {
    return Object.keys(this.headers).filter((k) => !k.startsWith(":") && !RESERVED.has(k));
  }
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * parseTimeout reads a grpc-timeout header ("<1-8 digits><H|M|S|m|u|n>") as milliseconds; it
 * returns undefined when the value is malformed.
 */
export function parseTimeout(v: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return undefined;
  return Number(m[1]) * (TIMEOUT_UNIT_MS[m[2] as string] as number);
}
