import { describe, expect, it } from "vitest";
import type { EtcdEntry } from "./layout.js";
import { etcdBuckets } from "./snapshot_file.js";

/** source yields entries of the key and meta buckets and records whether it was closed. */
function source(): { entries: AsyncIterable<EtcdEntry>; closed: () => boolean } {
  let closed = false;
  async function* gen(): AsyncGenerator<EtcdEntry> {
    try {
      yield { bucket: "key", key: Buffer.from("a"), value: Buffer.from("1") };
      yield { bucket: "key", key: Buffer.from("b"), value: Buffer.from("2") };
      yield { bucket: "meta", key: Buffer.from("consistent_index"), value: Buffer.alloc(8) };
    } finally {
      closed = true;
    }
  }
  return { entries: gen(), closed: () => closed };
}

describe("etcdBuckets", () => {
  it("yields every etcd bucket in order with its entries, empty ones included", async () => {
    const src = source();
    const got: [string, string[]][] = [];
    for await (const b of etcdBuckets(src.entries)) {
      const keys: string[] = [];
      for await (const e of b.entries as AsyncIterable<readonly [Buffer, Buffer]>) keys.push(e[0].toString());
      got.push([Buffer.from(b.name).toString(), keys]);
    }
    expect(got).toEqual([
      ["alarm", []],
      ["auth", []],
      ["authRoles", []],
      ["authUsers", []],
      ["cluster", []],
      ["key", ["a", "b"]],
      ["lease", []],
      ["members", []],
      ["members_removed", []],
      ["meta", ["consistent_index"]],
    ]);
    expect(src.closed()).toBe(true);
  });

  it("closes the source scan when the consumer stops early (a write error)", async () => {
    const src = source();
    await expect(
      (async () => {
        for await (const b of etcdBuckets(src.entries)) {
          if (Buffer.from(b.name).toString() === "key") {
            for await (const _ of b.entries as AsyncIterable<unknown>) throw new Error("disk full");
          } else {
            for await (const _ of b.entries as AsyncIterable<unknown>) {
              // drain
            }
          }
        }
      })(),
    ).rejects.toThrow(/disk full/);
    expect(src.closed()).toBe(true);
  });

  it("refuses a bucket left unread before the next one", async () => {
    const src = source();
    await expect(
      (async () => {
        for await (const _ of etcdBuckets(src.entries)) {
          // never reads a bucket's entries
        }
      })(),
    ).rejects.toThrow(/was not read to its end/);
    expect(src.closed()).toBe(true);
  });
});
