import { describe, expect, it } from "vitest";
import { formatDuration, goJSONString, goQuote, goQuoteRune, humanizeBytes } from "./goformat.js";
import { renderTable } from "./table.js";
import { rangeJSON, txnJSON } from "./json.js";
import { etcdserverpb } from "@etcd-ts/proto";

describe("Go formatting", () => {
  it("goQuote matches strconv.Quote", () => {
    expect(goQuote("hello world")).toBe('"hello world"');
    expect(goQuote(Buffer.from([0, 0xff, 0x62, 0x0a, 0x22, 0x5c, 0x7f]))).toBe('"\\x00\\xffb\\n\\"\\\\\\x7f"');
    expect(goQuote("héllo ✓")).toBe('"héllo ✓"');
    expect(goQuote("\u200b")).toBe('"\\u200b"');
    expect(goQuoteRune("x")).toBe("'x'");
  });

  it("goJSONString escapes like encoding/json", () => {
    expect(goJSONString('<a&b>"\\\n')).toBe('"\\u003ca\\u0026b\\u003e\\"\\\\\\n"');
    expect(goJSONString(Buffer.from([0x61, 0xff]))).toBe('"a\\ufffd"');
  });

  it("humanizeBytes matches go-humanize (SI, half to even)", () => {
    expect(humanizeBytes(9)).toBe("9 B");
    expect(humanizeBytes(20480)).toBe("20 kB");
    expect(humanizeBytes(20500)).toBe("20 kB");
    expect(humanizeBytes(21500)).toBe("22 kB");
    expect(humanizeBytes(1_234_567n)).toBe("1.2 MB");
  });

  it("formatDuration matches time.Duration.String", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(999)).toBe("999ns");
    expect(formatDuration(1_234_567n)).toBe("1.234567ms");
    expect(formatDuration(1500)).toBe("1.5µs");
    expect(formatDuration(90e9)).toBe("1m30s");
    expect(formatDuration(3723.5e9)).toBe("1h2m3.5s");
  });
});

describe("output encoders", () => {
  it("renders tablewriter's layout", () => {
    expect(renderTable(["endpoint", "db size"], [["127.0.0.1:1", "20 kB"]])).toBe(
      "+-------------+---------+\n" +
        "|  ENDPOINT   | DB SIZE |\n" +
        "+-------------+---------+\n" +
        "| 127.0.0.1:1 |   20 kB |\n" +
        "+-------------+---------+\n",
    );
  });

  it("encodes responses as Go's encoding/json does", () => {
    const r = etcdserverpb.RangeResponse.fromPartial({
      header: { clusterId: 18446744073709551615n, revision: 3n },
      kvs: [{ key: Buffer.from("foo"), createRevision: 2n, modRevision: 3n, version: 2n, value: Buffer.alloc(0) }],
      count: 1n,
    });
    expect(rangeJSON(r)).toBe(
      '{"header":{"cluster_id":18446744073709551615,"revision":3},' +
        '"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2}],"count":1}',
    );
    const t = etcdserverpb.TxnResponse.fromPartial({
      header: { revision: 4n },
      responses: [{ responsePut: { header: { revision: 4n } } }, { responseDeleteRange: { header: {} } }],
    });
    expect(txnJSON(t)).toBe(
      '{"header":{"revision":4},"responses":[{"Response":{"ResponsePut":{"header":{"revision":4}}}},' +
        '{"Response":{"ResponseDeleteRange":{"header":{}}}}]}',
    );
  });
});
