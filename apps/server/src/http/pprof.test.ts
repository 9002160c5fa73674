import { request } from "node:http";
import { gunzipSync } from "node:zlib";
import { Profile } from "pprof-format";
import { afterEach, describe, expect, it } from "vitest";
import { specs, startCluster, stopAll } from "../testing/cluster.js";

afterEach(stopAll);

/** get fetches a URL and returns status, headers and the raw body. */
function get(url: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: Buffer.concat(chunks) }));
    })
      .on("error", reject)
      .end();
  });
}

/** profileOf decodes a pprof response body (gzipped protobuf) and returns its sample types' names. */
function sampleTypes(body: Buffer): string[] {
  const p = Profile.decode(gunzipSync(body));
  return p.sampleType.map((t) => String(p.stringTable.strings[Number(t.type)]));
}

describe("--enable-pprof", () => {
  it("serves Node.js CPU and heap profiles in pprof's format under /debug/pprof/", async () => {
    const [m] = await startCluster(1, ["--enable-pprof"]);
    const base = `${specs.get(m as never)?.clientUrl}/debug/pprof`;
    const index = await get(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.body.toString()).toContain('<a href="profile?debug=1">profile</a>');

    const cpu = await get(`${base}/profile?seconds=1`);
    expect(cpu.status).toBe(200);
    expect(cpu.type).toBe("application/octet-stream");
    expect(sampleTypes(cpu.body)).toContain("wall");

    const heap = await get(`${base}/heap`);
    expect(heap.status).toBe(200);
    expect(sampleTypes(heap.body)).toEqual(["inuse_objects", "inuse_space"]); // as Go's heap profile names them

    expect((await get(`${base}/cmdline`)).body.toString()).toContain(process.argv[0]);
    const goroutine = await get(`${base}/goroutine`);
    expect([goroutine.status, goroutine.body.toString()]).toEqual([404, "Unknown profile\n"]);
  }, 20_000);

  it("refuses a second CPU profile while one runs, as Go does", async () => {
    const [m] = await startCluster(1, ["--enable-pprof"]);
    const base = `${specs.get(m as never)?.clientUrl}/debug/pprof`;
    const first = get(`${base}/profile?seconds=1`);
    await new Promise((r) => setTimeout(r, 100));
    const second = await get(`${base}/profile?seconds=1`);
    expect([second.status, second.body.toString()]).toEqual([500, "Could not enable CPU profiling: cpu profiling already in use\n"]);
    expect((await first).status).toBe(200);
  }, 20_000);

  it("survives request paths that are no URL (a crash would end the member)", async () => {
    const [m] = await startCluster(1, ["--enable-pprof"]);
    const u = new URL(specs.get(m as never)?.clientUrl ?? "");
    for (const path of ["//", "///", "//a:b", "//%zz"]) {
      const status = await new Promise<number>((resolve, reject) =>
        request({ host: u.hostname, port: u.port, path }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on("error", reject)
          .end(),
      );
      expect([path, status]).toEqual([path, 404]);
    }
    expect((await get(`${u.origin}/version`)).status).toBe(200);
  }, 20_000);

  it("is off by default: /debug/pprof/ is 404", async () => {
    const [m] = await startCluster(1);
    expect((await get(`${specs.get(m as never)?.clientUrl}/debug/pprof/`)).status).toBe(404);
  }, 20_000);
});
