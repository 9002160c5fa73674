import type { AuthBackend } from "../store.js";

/** MemoryBackend is an AuthBackend over a sorted in-memory map, for tests; `data` is what it holds. */
export class MemoryBackend implements AuthBackend {
  readonly data = new Map<string, Buffer>();

  async *scan(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const keys = [...this.data.keys()].map((k) => Buffer.from(k, "latin1")).sort(Buffer.compare);
    for (const k of keys) {
      if (Buffer.compare(k, gte) >= 0 && Buffer.compare(k, lt) < 0) yield [k, this.data.get(k.toString("latin1")) as Buffer];
    }
  }

  put(key: Buffer, value: Buffer): void {
    this.data.set(key.toString("latin1"), Buffer.from(value));
  }

  del(key: Buffer): void {
    this.data.delete(key.toString("latin1"));
  }
}
