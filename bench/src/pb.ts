/**
 * pb.ts reads and writes the few protobuf fields the load generator touches per operation
 * (a lease ID, a revision, a watch response's events) straight from the wire bytes, so the
 * hot paths decode no whole messages and allocate nothing per field.
 */

/** WIRE_VARINT, WIRE_I64, WIRE_LEN and WIRE_I32 are protobuf's wire types. */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/**
 * PbReader walks the fields of one protobuf message in buf[start, end). After next()
 * returns true, `field` and `wire` describe the field; varint() reads a varint field's
 * value, and for a length-delimited field `start`/`end` of len() give its bytes. Any field
 * not read is skipped by the next next(). Malformed input throws "pb: ...".
 */
export class PbReader {
  /** field is the current field's number. */
  field = 0;
  /** wire is the current field's wire type. */
  wire = 0;
  /** valueStart is where the current field's value begins. */
  valueStart = 0;
  /** lenStart is where the bytes of the field last read by len() begin. */
  lenStart = 0;
  private pos: number;
  private consumed = true;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    if (start < 0 || end > buf.length || start > end) throw new Error("pb: bad bounds");
    this.pos = start;
  }

  /** next moves to the next field; false at the end of the message. */
  next(): boolean {
    if (!this.consumed) this.skip();
    if (this.pos >= this.end) return false;
    const tag = this.readVarint();
    this.field = Math.floor(tag / 8);
    this.wire = tag % 8;
    if (this.field === 0) throw new Error("pb: field number 0");
    this.valueStart = this.pos;
    this.consumed = false;
    return true;
  }

  /** varint reads the current varint field as a number (exact up to 2^53). */
  varint(): number {
    if (this.wire !== WIRE_VARINT) throw new Error(`pb: field ${this.field} is not a varint`);
    this.consumed = true;
    return this.readVarint();
  }

  /**
   * len reads the current length-delimited field and returns its end; its bytes are
   * buf[reader.lenStart, returned end).
   */
  len(): number {
    if (this.wire !== WIRE_LEN) throw new Error(`pb: field ${this.field} is not length-delimited`);
    const n = this.readVarint();
    this.lenStart = this.pos;
    const e = this.pos + n;
    if (e > this.end) throw new Error("pb: truncated field");
    this.pos = e;
    this.consumed = true;
    return e;
  }

  private skip(): void {
    switch (this.wire) {
      case WIRE_VARINT:
        this.readVarint();
        break;
      case WIRE_I64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.len();
        break;
      case WIRE_I32:
        this.pos += 4;
        break;
      default:
        throw new Error(`pb: unsupported wire type ${this.wire}`);
    }
    if (this.pos > this.end) throw new Error("pb: truncated field");
    this.consumed = true;
  }

  private readVarint(): number {
    const b = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error("pb: truncated varint");
      const x = b[this.pos++]!;
      result += (x & 0x7f) * mul;
      if (x < 0x80) return result;
      mul *= 128;
    }
    throw new Error("pb: varint longer than 10 bytes");
  }
}

/**
 * varintEnd returns the index just past the varint starting at buf[pos], or -1 if it is
 * truncated before end or longer than 10 bytes.
 */
export function varintEnd(buf: Uint8Array, pos: number, end: number): number {
  for (let i = 0; i < 10 && pos + i < end; i++) {
    if (buf[pos + i]! < 0x80) return pos + i + 1;
  }
  return -1;
}

/** encodeVarint returns the varint encoding of a non-negative safe integer. */
export function encodeVarint(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`pb: cannot encode ${value} as a varint`);
  const out: number[] = [];
  let v = value;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/**
 * rawVarintField returns the raw varint bytes (as buf[start, end)) of the first occurrence
 * of varint field `field` of the message in buf[start, end), or undefined if absent.
 * Copying these bytes under another field's tag re-encodes the same int64 exactly.
 */
export function rawVarintField(buf: Uint8Array, start: number, end: number, field: number): [number, number] | undefined {
  const r = new PbReader(buf, start, end);
  while (r.next()) {
    if (r.field === field && r.wire === WIRE_VARINT) {
      const s = r.valueStart;
      const e = varintEnd(buf, s, end);
      if (e < 0) throw new Error("pb: truncated varint");
      return [s, e];
    }
  }
  return undefined;
}

/**
 * headerRevision returns the revision (ResponseHeader field 3) in the header (field 1) of
 * an etcd response message buf[start, end); 0 when absent.
 */
export function headerRevision(buf: Uint8Array, start: number, end: number): number {
  const r = new PbReader(buf, start, end);
  while (r.next()) {
    if (r.field === 1 && r.wire === WIRE_LEN) {
      const e = r.len();
      return revisionOf(buf, r.lenStart, e);
    }
  }
  return 0;
}

/** revisionOf returns the revision (field 3) of the ResponseHeader message buf[start, end); 0 when absent. */
export function revisionOf(buf: Uint8Array, start: number, end: number): number {
  const h = new PbReader(buf, start, end);
  while (h.next()) if (h.field === 3 && h.wire === WIRE_VARINT) return h.varint();
  return 0;
}
