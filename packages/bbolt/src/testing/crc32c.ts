/** crc32c is a CRC-32C (Castagnoli) accumulator, the hash `etcdctl snapshot status` reports. */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export class Crc32c {
  private c = 0xffffffff;
  update(b: Uint8Array): this {
    let c = this.c;
    for (const x of b) c = TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
    this.c = c >>> 0;
    return this;
  }
  digest(): number {
    return (this.c ^ 0xffffffff) >>> 0;
  }
}
