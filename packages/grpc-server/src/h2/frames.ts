/**
 * frames.ts holds HTTP/2's wire constants (RFC 7540 sections 6, 7 and 11) and the encoders of
 * the frames the server sends. Every encoder returns one Buffer holding the 9-byte frame
 * header and the payload, so a batch of frames leaves in one socket write.
 */

/** FRAME_HEADER_BYTES is the size of every frame's header: 24-bit length, type, flags, stream ID. */
export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** ErrorCode holds HTTP/2's error codes (RFC 7540 section 7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** PREFACE is the client connection preface (RFC 7540 section 3.5). */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** DEFAULT_WINDOW is the initial flow-control window of a connection and of a stream, in bytes. */
export const DEFAULT_WINDOW = 65_535;
/** MAX_WINDOW is the largest flow-control window (2^31-1 bytes). */
export const MAX_WINDOW = 0x7fff_ffff;
/** DEFAULT_MAX_FRAME_SIZE is the largest frame payload a peer accepts until it says otherwise. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** MAX_FRAME_SIZE_LIMIT is the largest SETTINGS_MAX_FRAME_SIZE allowed (2^24-1). */
export const MAX_FRAME_SIZE_LIMIT = 0xff_ffff;

/** writeFrameHeader writes a frame header at out[at]. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId & 0x7fff_ffff, at + 5);
}

/** frameWith returns a frame whose payload is copied from payload. */
export function frameWith(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** settingsFrame encodes SETTINGS with the given (identifier, value) pairs. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 6 * settings.length);
  writeFrameHeader(out, 0, 6 * settings.length, FrameType.SETTINGS, 0, 0);
  let at = FRAME_HEADER_BYTES;
  for (const [id, value] of settings) {
    out.writeUInt16BE(id, at);
    out.writeUInt32BE(value, at + 2);
    at += 6;
  }
  return out;
}

/** SETTINGS_ACK is the acknowledgement of the peer's SETTINGS. */
export const SETTINGS_ACK: Buffer = (() => {
  const out = Buffer.alloc(FRAME_HEADER_BYTES);
  writeFrameHeader(out, 0, 0, FrameType.SETTINGS, Flag.ACK, 0);
  return out;
})();

/** pingFrame encodes PING with an 8-byte opaque payload. */
export function pingFrame(payload: Buffer, ack: boolean): Buffer {
  return frameWith(FrameType.PING, ack ? Flag.ACK : 0, 0, payload.subarray(0, 8));
}

/** windowUpdateFrame encodes WINDOW_UPDATE (streamId 0: the connection's window). */
export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment & 0x7fff_ffff, FRAME_HEADER_BYTES);
  return out;
}

/** rstStreamFrame encodes RST_STREAM with an error code. */
export function rstStreamFrame(streamId: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER_BYTES);
  return out;
}

/** goawayFrame encodes GOAWAY naming the last stream the server processes, an error code and debug data. */
export function goawayFrame(lastStreamId: number, code: number, debug: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + debug.length);
  writeFrameHeader(out, 0, 8 + debug.length, FrameType.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStreamId & 0x7fff_ffff, FRAME_HEADER_BYTES);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER_BYTES + 4);
  debug.copy(out, FRAME_HEADER_BYTES + 8);
  return out;
}
