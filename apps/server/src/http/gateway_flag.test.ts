import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { specs, startCluster, stopAll } from "../testing/cluster.js";

afterEach(stopAll);

/** post sends a body to a URL and returns status and body. */
function post(url: string, body: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST" }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("the JSON gateway's flags and bounds", () => {
  it("serves /v3/ by default and not with --enable-grpc-gateway=false, as etcd", async () => {
    const [on] = await startCluster(1);
    const [off] = await startCluster(1, ["--enable-grpc-gateway=false"]);
    const url = (m: unknown): string => `${specs.get(m as never)?.clientUrl}/v3/kv/range`;
    expect((await post(url(on), '{"key":"YQ=="}')).status).toBe(200);
    expect(await post(url(off), '{"key":"YQ=="}')).toEqual({ status: 404, body: "404 page not found\n" });
  }, 20_000);

  it("refuses a body past the request size bound with ResourceExhausted, without holding it", async () => {
    const [m] = await startCluster(1, ["--max-request-bytes", "1024"]);
    const url = `${specs.get(m as never)?.clientUrl}/v3/kv/range`;
    // A key of 2 MiB: past --max-request-bytes + gRPC's 512 KiB, and past the body bound.
    const big = await post(url, `{"key":"${Buffer.alloc(2 * 1024 * 1024, 1).toString("base64")}"}`);
    expect(big.status).toBe(429);
    expect(JSON.parse(big.body)).toMatchObject({ code: 8 });
    expect(JSON.parse(big.body).message).toMatch(/^grpc: received message larger than max \(\d+ vs\. \d+\)$/);
    // Under the body bound, over the message limit: the gRPC server's own refusal, as etcd's.
    const mid = await post(url, `{"key":"${Buffer.alloc(540 * 1024, 1).toString("base64")}"}`);
    expect(mid.status).toBe(429);
    expect(JSON.parse(mid.body)).toEqual({
      error: `grpc: received message larger than max (${540 * 1024 + 4} vs. ${1024 + 512 * 1024})`,
      message: `grpc: received message larger than max (${540 * 1024 + 4} vs. ${1024 + 512 * 1024})`,
      code: 8,
    });
  }, 20_000);
});
