/**
 * Protobuf varints for the places that encode messages by hand (watch responses, snapshot
 * messages, peer message batches): n is a non-negative safe integer.
 */

/** varintSize is the length in bytes of n's protobuf varint encoding. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** writeVarint writes n as a varint into buf at offset and returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, n: number): number {
  let i = offset;
  while (n >= 0x80) {
    buf[i++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[i++] = n;
  return i;
}
