import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";
import { httpHandler, metricsListenerHandler } from "./handler.js";
import { probeRoute, runChecks, serveProbe, type ProbeServer } from "./probes.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  removeDataDirs();
});

interface Answer {
  status: number;
  type: string;
  nosniff: string;
  body: string;
}

function get(port: number, path: string, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"]),
          nosniff: String(res.headers["x-content-type-options"]),
          body,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const http = createServer(handler);
  servers.push(http);
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return (http.address() as AddressInfo).port;
}

/** fake is a ProbeServer whose alarms, reads and learner state the test sets. */
function fake(o: { alarms?: etcdserverpb.AlarmType[]; linearizable?: Error; serializable?: Error; learner?: boolean }): ProbeServer {
  return {
    alarmList: () => (o.alarms ?? []).map((alarm) => ({ memberID: 1n, alarm })),
    range: async (req: etcdserverpb.RangeRequest) => {
      const err = req.serializable ? o.serializable : o.linearizable;
      if (err !== undefined) throw err;
      return etcdserverpb.RangeResponse.fromPartial({});
    },
    isLearner: o.learner ?? false,
    asRoot: () => ({ user: "root", revision: 1n }),
  } as ProbeServer;
}

const OK = { status: 200, type: "text/plain; charset=utf-8", nosniff: "nosniff" };
const FAIL = { status: 503, type: "text/plain; charset=utf-8", nosniff: "nosniff" };

// Bodies as etcd 3.6's etcdhttp/health.go writes them (ok\n; verbose lists [+]name ok;
// failures list every check and end with http.Error's extra newline).
describe("/livez and /readyz", () => {
  it("route the root and each registered check; anything else is not a probe", () => {
    expect(probeRoute("/livez")).toEqual({ probe: "livez", checks: ["serializable_read"], root: true });
    expect(probeRoute("/readyz")?.checks).toEqual(["data_corruption", "serializable_read", "linearizable_read", "non_learner"]);
    expect(probeRoute("/readyz/non_learner")).toEqual({ probe: "readyz", checks: ["non_learner"], root: false });
    expect(probeRoute("/livez/linearizable_read")).toBeUndefined();
    expect(probeRoute("/livez/")).toBeUndefined();
    expect(probeRoute("/readyz/bogus")).toBeUndefined();
    expect(probeRoute("/healthz")).toBeUndefined();
  });

  it("report each check's failure reason", async () => {
    const s = fake({ alarms: [etcdserverpb.AlarmType.CORRUPT], linearizable: new Error("etcdserver: request timed out"), learner: true });
    expect(await runChecks(s, ["data_corruption", "serializable_read", "linearizable_read", "non_learner"])).toEqual({
      ok: false,
      reason:
        "[-]data_corruption failed: alarm activated: CORRUPT\n[+]serializable_read ok\n" +
        "[-]linearizable_read failed: etcdserver: request timed out\n[-]non_learner failed: not supported for learner\n",
    });
    // NOSPACE is not data corruption: readyz stays ready
    expect((await runChecks(fake({ alarms: [etcdserverpb.AlarmType.NOSPACE] }), ["data_corruption"])).ok).toBe(true);
  });

  it("answer 503 with every check's line, honour ?exclude on the root only, and ignore unknown exclusions", async () => {
    const s = fake({ linearizable: new Error("etcdserver: no leader"), learner: true });
    const port = await listen((req, res) => {
      if (!serveProbe(s, (req.url ?? "/").split("?")[0]!, req, res)) res.writeHead(404).end();
    });
    expect(await get(port, "/livez")).toEqual({ ...OK, body: "ok\n" });
    expect(await get(port, "/readyz")).toEqual({
      ...FAIL,
      body:
        "[+]data_corruption ok\n[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: no leader\n" +
        "[-]non_learner failed: not supported for learner\n\n",
    });
    expect(await get(port, "/readyz?exclude=linearizable_read&exclude=non_learner&exclude=bogus")).toEqual({ ...OK, body: "ok\n" });
    expect(await get(port, "/readyz?exclude=non_learner&exclude=linearizable_read&verbose")).toEqual({
      ...OK,
      body: "[+]data_corruption ok\n[+]serializable_read ok\nok\n",
    });
    expect(await get(port, "/readyz/linearizable_read")).toEqual({
      ...FAIL,
      body: "[-]linearizable_read failed: etcdserver: no leader\n\n",
    });
    // a sub-path runs its one check whatever ?exclude says
    expect((await get(port, "/readyz/non_learner?exclude=non_learner")).status).toBe(503);
    expect(await get(port, "/readyz/serializable_read?verbose=1")).toEqual({ ...OK, body: "[+]serializable_read ok\nok\n" });
    const post = await get(port, "/livez", "POST");
    expect(post).toEqual({ status: 405, type: "text/plain; charset=utf-8", nosniff: "nosniff", body: "Method Not Allowed\n" });
    expect((await get(port, "/livez/")).status).toBe(404);
  });

  it("are served on the client port and the metrics listener of a real member", async () => {
    const s = await openMember(tmpDataDir());
    const client = await listen(httpHandler(s));
    const metrics = await listen(metricsListenerHandler(s, { contentType: "text/plain", text: async () => "" }));
    for (const port of [client, metrics]) {
      expect(await get(port, "/livez?verbose")).toEqual({ ...OK, body: "[+]serializable_read ok\nok\n" });
      expect(await get(port, "/readyz?verbose")).toEqual({
        ...OK,
        body: "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n",
      });
    }
    // a NOSPACE alarm fails /health but neither probe
    await s.alarm({ action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: 1n, alarm: etcdserverpb.AlarmType.NOSPACE });
    expect((await get(client, "/health")).status).toBe(503);
    expect((await get(client, "/readyz")).status).toBe(200);
    await s.alarm({ action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: 1n, alarm: etcdserverpb.AlarmType.CORRUPT });
    expect(await get(client, "/readyz")).toEqual({
      ...FAIL,
      body: "[-]data_corruption failed: alarm activated: CORRUPT\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\n\n",
    });
    expect((await get(client, "/readyz?exclude=data_corruption")).status).toBe(200);
    expect((await get(client, "/livez")).status).toBe(200);
    await s.stop();
  });
});
