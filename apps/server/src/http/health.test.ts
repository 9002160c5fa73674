import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";
import { httpHandler } from "./handler.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  removeDataDirs();
});

function get(port: number, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

// Bodies, types and codes as etcd 3.4.23 answers them (checked with curl).
describe("/health and /version", () => {
  it("answers health from alarms, the leader and a linearizable read, with etcd's bodies", async () => {
    const s = await openMember(tmpDataDir());
    const http = createServer(httpHandler(s));
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const port = (http.address() as AddressInfo).port;

    expect(await get(port, "/health")).toEqual({ status: 200, type: "text/plain; charset=utf-8", body: '{"health":"true"}' });
    expect((await get(port, "/health", "POST")).status).toBe(405);
    expect(await get(port, "/health", "HEAD")).toEqual({ status: 405, type: "text/plain; charset=utf-8", body: "" });
    expect((await get(port, "/version", "PUT")).status).toBe(405);

    await s.alarm({ action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: 1n, alarm: etcdserverpb.AlarmType.NOSPACE });
    expect(await get(port, "/health")).toEqual({ status: 503, type: "text/plain; charset=utf-8", body: '{"health":"false"}\n' });
    expect((await get(port, "/health?exclude=NOSPACE")).status).toBe(200);
    expect((await get(port, "/health?exclude=CORRUPT")).status).toBe(503);
    await s.stop();
  });
});
