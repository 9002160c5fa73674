import { mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { freePort } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../config/config.js";
import { Etcd } from "../embed.js";
import { hexId } from "../ids.js";
import { Logger } from "../log.js";
import { parseExposition as parse, type Scrape } from "../testing/exposition.js";

/** value is the one sample of name whose labels are exactly `labels`; it fails when there is none. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = s.samples.filter((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${want}`);
  return (found[0] as Scrape["samples"][number]).value;
}

function fetchText(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    }).on("error", reject);
  });
}

const unary = <Req, Res>(fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> =>
  new Promise((resolve, reject) => fn(req, (err, res) => (err !== null ? reject(err) : resolve(res))));

const KV = { grpc_service: "etcdserverpb.KV", grpc_type: "unary" };
const WATCH = { grpc_service: "etcdserverpb.Watch", grpc_type: "bidi_stream", grpc_method: "Watch" };

/** ETCD_TYPES are the series this suite requires, with their type in etcd 3.4. */
const ETCD_TYPES: Record<string, string> = {
  etcd_server_has_leader: "gauge",
  etcd_server_is_leader: "gauge",
  etcd_server_leader_changes_seen_total: "counter",
  etcd_server_proposals_committed_total: "gauge",
  etcd_server_proposals_applied_total: "gauge",
  etcd_server_proposals_pending: "gauge",
  etcd_server_proposals_failed_total: "counter",
  etcd_server_id: "gauge",
  etcd_server_version: "gauge",
  etcd_server_quota_backend_bytes: "gauge",
  etcd_disk_wal_fsync_duration_seconds: "histogram",
  etcd_disk_backend_commit_duration_seconds: "histogram",
  etcd_mvcc_db_total_size_in_bytes: "gauge",
  etcd_mvcc_db_total_size_in_use_in_bytes: "gauge",
  etcd_debugging_mvcc_keys_total: "gauge",
  etcd_mvcc_put_total: "counter",
  etcd_mvcc_delete_total: "counter",
  etcd_mvcc_range_total: "counter",
  etcd_mvcc_txn_total: "counter",
  etcd_network_peer_round_trip_time_seconds: "histogram",
  etcd_network_peer_sent_bytes_total: "counter",
  etcd_network_peer_received_bytes_total: "counter",
  etcd_network_peer_sent_failures_total: "counter",
  etcd_network_client_grpc_sent_bytes_total: "counter",
  etcd_network_client_grpc_received_bytes_total: "counter",
  grpc_server_started_total: "counter",
  grpc_server_handled_total: "counter",
  grpc_server_msg_received_total: "counter",
  grpc_server_msg_sent_total: "counter",
  grpc_server_handling_seconds: "histogram",
  process_cpu_seconds_total: "counter",
  process_resident_memory_bytes: "gauge",
  nodejs_heap_size_used_bytes: "gauge",
  nodejs_eventloop_lag_seconds: "gauge",
};

describe("/metrics of a single member after a known workload", () => {
  let dir: string;
  let etcd: Etcd;
  let clientUrl: string;
  let metricsUrl: string;
  let scrape: Scrape;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "etcd-metrics-test-"));
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    clientUrl = `http://127.0.0.1:${client}`;
    metricsUrl = `http://127.0.0.1:${metrics}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const r = loadConfig(
      [
        "--name",
        "m1",
        "--data-dir",
        join(dir, "data"),
        "--listen-client-urls",
        clientUrl,
        "--advertise-client-urls",
        clientUrl,
        "--listen-peer-urls",
        peerUrl,
        "--initial-advertise-peer-urls",
        peerUrl,
        "--initial-cluster",
        `m1=${peerUrl}`,
        "--listen-metrics-urls",
        metricsUrl,
        "--metrics",
        "extensive",
      ],
      {},
    );
    if (r.kind !== "run") throw new Error("config");
    etcd = await Etcd.start(r.config, new Logger("error"), (err) => {
      throw err;
    });

    const kv = new etcdserverpb.KVClient(`127.0.0.1:${client}`, credentials.createInsecure());
    const put = (k: string, lease = 0n): Promise<etcdserverpb.PutResponse> =>
      unary(kv.put.bind(kv), etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(k), value: Buffer.from("v"), lease }));
    for (let i = 0; i < 5; i++) await put(`k${i}`);
    await expect(put("bad", 12345n)).rejects.toMatchObject({ code: 5, details: "etcdserver: requested lease not found" });
    await unary(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k0") }));
    await unary(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k"), rangeEnd: Buffer.from("l") }));
    await unary(kv.deleteRange.bind(kv), etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from("k0") }));
    await unary(
      kv.txn.bind(kv),
      etcdserverpb.TxnRequest.fromPartial({
        success: [{ requestPut: { key: Buffer.from("t1"), value: Buffer.from("v") } }, { requestPut: { key: Buffer.from("t2"), value: Buffer.from("v") } }],
      }),
    );
    kv.close();

    // One Watch stream: a create request, its answer, then the client cancels it.
    const watch = new etcdserverpb.WatchClient(`127.0.0.1:${client}`, credentials.createInsecure());
    const stream = watch.watch();
    stream.on("error", () => undefined);
    const created = new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from("w") } }));
    await created;
    stream.cancel();
    const end = Date.now() + 5000;
    for (;;) {
      const s = parse((await fetchText(`${clientUrl}/metrics`)).body);
      if (value(s, "grpc_server_handled_total", { ...WATCH, grpc_code: "Canceled" }) === 1) break;
      if (Date.now() > end) throw new Error("the cancelled Watch was not counted");
      await new Promise((r) => setTimeout(r, 20));
    }
    watch.close();
    scrape = parse((await fetchText(`${clientUrl}/metrics`)).body);
  }, 30_000);

  afterAll(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the Prometheus text format on the client port", async () => {
    const r = await fetchText(`${clientUrl}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain("# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.\n");
  });

  it("declares every required series with etcd's type", () => {
    for (const [name, type] of Object.entries(ETCD_TYPES)) expect([name, scrape.types.get(name)]).toEqual([name, type]);
  });

  it("counts the bytes of the request messages received, as etcd's codec does", () => {
    const pb = etcdserverpb;
    const sizes = [
      ...[0, 1, 2, 3, 4].map((i) => pb.PutRequest.encode(pb.PutRequest.fromPartial({ key: Buffer.from(`k${i}`), value: Buffer.from("v") })).finish().length),
      pb.PutRequest.encode(pb.PutRequest.fromPartial({ key: Buffer.from("bad"), value: Buffer.from("v"), lease: 12345n })).finish().length,
      pb.RangeRequest.encode(pb.RangeRequest.fromPartial({ key: Buffer.from("k0") })).finish().length,
      pb.RangeRequest.encode(pb.RangeRequest.fromPartial({ key: Buffer.from("k"), rangeEnd: Buffer.from("l") })).finish().length,
      pb.DeleteRangeRequest.encode(pb.DeleteRangeRequest.fromPartial({ key: Buffer.from("k0") })).finish().length,
      pb.TxnRequest.encode(
        pb.TxnRequest.fromPartial({
          success: [{ requestPut: { key: Buffer.from("t1"), value: Buffer.from("v") } }, { requestPut: { key: Buffer.from("t2"), value: Buffer.from("v") } }],
        }),
      ).finish().length,
      pb.WatchRequest.encode(pb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from("w") } })).finish().length,
    ];
    expect(value(scrape, "etcd_network_client_grpc_received_bytes_total")).toBe(sizes.reduce((a, b) => a + b, 0));
    // Every answer has a header at least: more than 20 bytes for each of the 10 answered calls.
    expect(value(scrape, "etcd_network_client_grpc_sent_bytes_total")).toBeGreaterThan(200);
  });

  it("counts the mvcc operations done", () => {
    // 5 puts + the txn's 2 (the put with a missing lease stops before writing).
    expect(value(scrape, "etcd_mvcc_put_total")).toBe(7);
    expect(value(scrape, "etcd_mvcc_range_total")).toBe(2);
    expect(value(scrape, "etcd_mvcc_delete_total")).toBe(1);
    expect(value(scrape, "etcd_mvcc_txn_total")).toBe(1);
    // k1..k4, t1, t2
    expect(value(scrape, "etcd_debugging_mvcc_keys_total")).toBe(6);
    expect(value(scrape, "etcd_mvcc_db_total_size_in_bytes")).toBeGreaterThan(0);
    const inUse = value(scrape, "etcd_mvcc_db_total_size_in_use_in_bytes");
    expect(inUse).toBeGreaterThan(0);
    expect(inUse).toBeLessThanOrEqual(value(scrape, "etcd_mvcc_db_total_size_in_bytes"));
  });

  it("counts the gRPC calls by method and code, and their messages", () => {
    expect(value(scrape, "grpc_server_started_total", { ...KV, grpc_method: "Put" })).toBe(6);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "Put", grpc_code: "OK" })).toBe(5);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "Put", grpc_code: "NotFound" })).toBe(1);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "Put", grpc_code: "Unavailable" })).toBe(0);
    expect(value(scrape, "grpc_server_msg_received_total", { ...KV, grpc_method: "Put" })).toBe(6);
    expect(value(scrape, "grpc_server_msg_sent_total", { ...KV, grpc_method: "Put" })).toBe(5);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "Range", grpc_code: "OK" })).toBe(2);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "DeleteRange", grpc_code: "OK" })).toBe(1);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "Txn", grpc_code: "OK" })).toBe(1);
    expect(value(scrape, "grpc_server_handled_total", { ...KV, grpc_method: "Compact", grpc_code: "OK" })).toBe(0);
    expect(value(scrape, "grpc_server_started_total", WATCH)).toBe(1);
    expect(value(scrape, "grpc_server_msg_received_total", WATCH)).toBe(1);
    expect(value(scrape, "grpc_server_msg_sent_total", WATCH)).toBeGreaterThanOrEqual(1);
    expect(value(scrape, "grpc_server_handled_total", { ...WATCH, grpc_code: "Canceled" })).toBe(1);
    // Every service's methods are there from the start, at 0.
    for (const [service, method, type] of [
      ["etcdserverpb.Lease", "LeaseGrant", "unary"],
      ["etcdserverpb.Lease", "LeaseKeepAlive", "bidi_stream"],
      ["etcdserverpb.Maintenance", "Status", "unary"],
      ["etcdserverpb.Cluster", "MemberList", "unary"],
    ] as const) {
      expect(value(scrape, "grpc_server_started_total", { grpc_service: service, grpc_method: method, grpc_type: type })).toBe(0);
    }
    // --metrics extensive: the handling-time histograms.
    expect(value(scrape, "grpc_server_handling_seconds_count", { ...KV, grpc_method: "Put" })).toBe(6);
    expect(value(scrape, "grpc_server_handling_seconds_bucket", { ...KV, grpc_method: "Put", le: "+Inf" })).toBe(6);
    expect(value(scrape, "grpc_server_handling_seconds_bucket", { ...KV, grpc_method: "Put", le: "0.005" })).toBeLessThanOrEqual(6);
  });

  it("reports the member's raft and proposal state", () => {
    expect(value(scrape, "etcd_server_has_leader")).toBe(1);
    expect(value(scrape, "etcd_server_is_leader")).toBe(1);
    expect(value(scrape, "etcd_server_leader_changes_seen_total")).toBe(1);
    expect(value(scrape, "etcd_server_id", { server_id: hexId(etcd.server.memberId) })).toBe(1);
    expect(value(scrape, "etcd_server_version", { server_version: "3.4.23" })).toBe(1);
    expect(value(scrape, "etcd_server_quota_backend_bytes")).toBe(2 * 1024 ** 3);
    expect(value(scrape, "etcd_server_proposals_pending")).toBe(0);
    expect(value(scrape, "etcd_server_proposals_failed_total")).toBe(0);
    const applied = value(scrape, "etcd_server_proposals_applied_total");
    // 9 proposals (6 puts, a delete, a txn, ...) on top of the bootstrap entries.
    expect(applied).toBeGreaterThanOrEqual(9);
    expect(applied).toBe(Number(etcd.server.appliedIndex));
    expect(value(scrape, "etcd_server_proposals_committed_total")).toBe(applied);
  });

  it("times the WAL fsyncs and backend commits with etcd's buckets", () => {
    const fsyncs = value(scrape, "etcd_disk_wal_fsync_duration_seconds_count");
    expect(fsyncs).toBeGreaterThanOrEqual(9);
    // Applied batches reach the backend grouped, at most once per --backend-batch-interval.
    const commits = value(scrape, "etcd_disk_backend_commit_duration_seconds_count");
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThanOrEqual(fsyncs);
    for (const name of ["etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"]) {
      const count = value(scrape, `${name}_count`);
      expect(value(scrape, `${name}_bucket`, { le: "+Inf" })).toBe(count);
      const les = scrape.samples.filter((x) => x.name === `${name}_bucket`).map((x) => x.labels["le"]);
      expect(les).toEqual(["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"]);
    }
  });

  it("sets the quota gauge through its setter", async () => {
    etcd.metrics.setQuotaBackendBytes(8 * 1024 ** 3);
    expect(value(parse((await fetchText(`${clientUrl}/metrics`)).body), "etcd_server_quota_backend_bytes")).toBe(8 * 1024 ** 3);
    etcd.metrics.setQuotaBackendBytes(2 * 1024 ** 3);
  });

  it("serves /metrics and /health on --listen-metrics-urls, and nothing else there", async () => {
    const m = await fetchText(`${metricsUrl}/metrics`);
    expect(m.status).toBe(200);
    const s = parse(m.body);
    expect(value(s, "etcd_mvcc_put_total")).toBe(7);
    expect(value(s, "grpc_server_handled_total", { ...KV, grpc_method: "Put", grpc_code: "OK" })).toBe(5);
    expect(s.types.get("etcd_server_has_leader")).toBe("gauge");
    const h = await fetchText(`${metricsUrl}/health`);
    expect([h.status, h.body]).toEqual([200, '{"health":"true"}']);
    expect((await fetchText(`${metricsUrl}/version`)).status).toBe(404);
  });
});
