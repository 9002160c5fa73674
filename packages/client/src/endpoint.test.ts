import { describe, expect, it } from "vitest";
import { parseEndpoint } from "./endpoint.js";

describe("parseEndpoint", () => {
  it("accepts host:port and http URLs", () => {
    expect(parseEndpoint("127.0.0.1:2379")).toEqual({ raw: "127.0.0.1:2379", address: "127.0.0.1:2379", scheme: "" });
    expect(parseEndpoint("http://localhost:2379")).toMatchObject({ address: "localhost:2379", scheme: "http" });
    expect(parseEndpoint("http://[::1]:2379/").address).toBe("[::1]:2379");
    expect(parseEndpoint(" 10.0.0.1:1 ").address).toBe("10.0.0.1:1");
  });

  it("accepts https URLs, scheme case-insensitively", () => {
    expect(parseEndpoint("https://127.0.0.1:2379")).toEqual({
      raw: "https://127.0.0.1:2379",
      address: "127.0.0.1:2379",
      scheme: "https",
    });
    expect(parseEndpoint("HTTPS://localhost:1").scheme).toBe("https");
  });

  it("rejects other schemes and missing ports", () => {
    expect(() => parseEndpoint("unix://x:1")).toThrow(/unsupported scheme "unix"/);
    expect(() => parseEndpoint("127.0.0.1")).toThrow(/missing port/);
    expect(() => parseEndpoint("http://")).toThrow(/missing host/);
  });
});
