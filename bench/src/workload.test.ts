import { describe, expect, it } from "vitest";
import { DEFAULT_WATCH_WRITERS, DEFAULT_WORKLOADS, needsData, parseWorkload } from "./workload.js";

describe("parseWorkload", () => {
  it("parses op and clients and caps the connections", () => {
    expect(parseWorkload("put-1", 10)).toEqual({ name: "put-1", op: "put", clients: 1, conns: 1 });
    expect(parseWorkload("range-100", 10)).toEqual({ name: "range-100", op: "range", clients: 100, conns: 10 });
    expect(parseWorkload("range-serializable-7", 10)).toEqual({
      name: "range-serializable-7",
      op: "range-serializable",
      clients: 7,
      conns: 7,
    });
    expect(parseWorkload("put-100", 100).conns).toBe(100);
  });

  it("parses lease-put and watch; a watch workload gets its writers and their connections", () => {
    expect(parseWorkload("lease-put-100", 10)).toEqual({ name: "lease-put-100", op: "lease-put", clients: 100, conns: 10 });
    expect(parseWorkload("watch-100", 10)).toEqual({
      name: "watch-100",
      op: "watch",
      clients: 100,
      conns: 10,
      writers: DEFAULT_WATCH_WRITERS,
      writerConns: Math.min(DEFAULT_WATCH_WRITERS, 10),
    });
    expect(parseWorkload("watch-1", 10, 3)).toMatchObject({ clients: 1, conns: 1, writers: 3, writerConns: 3 });
    expect(parseWorkload("watch-50", 4, 20)).toMatchObject({ conns: 4, writers: 20, writerConns: 4 });
    expect(() => parseWorkload("watch-5", 10, 0)).toThrow(/at least one writer/);
  });

  it("parses defrag and wants a put and a range client at least", () => {
    expect(parseWorkload("defrag-100", 10)).toEqual({ name: "defrag-100", op: "defrag", clients: 100, conns: 10 });
    expect(() => parseWorkload("defrag-1", 10)).toThrow(/at least 2 clients/);
    expect(needsData(parseWorkload("defrag-2", 10))).toBe(false);
  });

  it("parses snapshot and snapshot-1 as the one-call snapshot workload, nothing else", () => {
    const w = { name: "snapshot", op: "snapshot", clients: 1, conns: 1 };
    expect(parseWorkload("snapshot", 10)).toEqual(w);
    expect(parseWorkload(" snapshot-1", 10)).toEqual(w);
    expect(() => parseWorkload("snapshot-2", 10)).toThrow(/snapshot is one call/);
    expect(needsData(parseWorkload("snapshot", 10))).toBe(false);
    expect(DEFAULT_WORKLOADS).not.toContain("snapshot");
  });

  it("parses range-all and range-all-1 as the one-call range-all workload, apart from range-N", () => {
    const w = { name: "range-all", op: "range-all", clients: 1, conns: 1 };
    expect(parseWorkload("range-all", 10)).toEqual(w);
    expect(parseWorkload("range-all-1 ", 10)).toEqual(w);
    expect(() => parseWorkload("range-all-2", 10)).toThrow(/range-all is one call, so "range-all" or "range-all-1"/);
    expect(() => parseWorkload("range-all-0", 10)).toThrow(/clients must be 1\.\.10000/);
    for (const bad of ["range-alls", "range-all-x", "range-all1", "rangeall"]) expect(() => parseWorkload(bad, 10)).toThrow(/^bench: /);
    // range-N is still the single-key range workload
    expect(parseWorkload("range-1", 10)).toEqual({ name: "range-1", op: "range", clients: 1, conns: 1 });
    expect(needsData(parseWorkload("range-all", 10))).toBe(false);
    expect(DEFAULT_WORKLOADS).not.toContain("range-all");
  });

  it("accepts every default workload", () => {
    for (const w of DEFAULT_WORKLOADS) expect(parseWorkload(w, 10).name).toBe(w);
  });

  it.each([["put"], ["put-0"], ["get-10"], ["put-x"], ["range-serializable"], ["put-20000"]])("rejects %s", (name) => {
    expect(() => parseWorkload(name, 10)).toThrow(/bench: /);
  });

  it("rejects a zero connection cap", () => {
    expect(() => parseWorkload("put-1", 0)).toThrow(/connections/);
  });

  it("needsData is true for reads only", () => {
    expect(needsData(parseWorkload("put-1", 1))).toBe(false);
    expect(needsData(parseWorkload("lease-put-1", 1))).toBe(false);
    expect(needsData(parseWorkload("watch-1", 1))).toBe(false);
    expect(needsData(parseWorkload("range-1", 1))).toBe(true);
    expect(needsData(parseWorkload("range-serializable-1", 1))).toBe(true);
  });
});
