import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import type { EtcdServer } from "../etcd_server.js";
import { Errors } from "../errors.js";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";

const b = (s: string) => Buffer.from(s);
const { AlarmType } = etcdserverpb;
const Action = etcdserverpb.AlarmRequest_AlarmAction;
const tmp = tmpDataDir;
const open = (dataDir: string): Promise<EtcdServer> => openMember(dataDir);

afterEach(removeDataDirs);

const put = (s: EtcdServer, k: string) => s.put(etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b("v") }));
const get = (s: EtcdServer, k: string, serializable = false) => s.range(etcdserverpb.RangeRequest.fromPartial({ key: b(k), serializable }));
const alarm = (s: EtcdServer, action: etcdserverpb.AlarmRequest_AlarmAction, type: etcdserverpb.AlarmType, memberID = 0n) =>
  s.alarm({ action, alarm: type, memberID });

describe("alarms", () => {
  it("a CORRUPT alarm refuses every KV request in the log until it is cleared, across a restart", async () => {
    const dir = tmp();
    let s = await open(dir);
    await put(s, "a");
    const raised = await alarm(s, Action.ACTIVATE, AlarmType.CORRUPT, 5n);
    // etcd answers Alarm without a header.
    expect(raised).toEqual({ header: undefined, alarms: [{ memberID: 5n, alarm: AlarmType.CORRUPT }] });
    // Raising it again changes nothing and answers no alarm, as etcd does.
    expect((await alarm(s, Action.ACTIVATE, AlarmType.CORRUPT, 5n)).alarms).toEqual([]);
    await expect(put(s, "b")).rejects.toBe(Errors.corrupt);
    await expect(s.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("a") }))).rejects.toBe(Errors.corrupt);
    await expect(s.compact(etcdserverpb.CompactionRequest.fromPartial({ revision: 1n }))).rejects.toBe(Errors.corrupt);
    // Reads are served without the log and still answer.
    expect((await get(s, "a")).kvs).toHaveLength(1);
    expect((await get(s, "a", true)).kvs).toHaveLength(1);
    expect((await s.status()).errors).toEqual(["memberID:5 alarm:CORRUPT "]);

    await s.stop();
    s = await open(dir);
    expect((await alarm(s, Action.GET, AlarmType.NONE)).alarms).toEqual([{ memberID: 5n, alarm: AlarmType.CORRUPT }]);
    await expect(put(s, "b")).rejects.toBe(Errors.corrupt);
    expect((await alarm(s, Action.DEACTIVATE, AlarmType.CORRUPT, 5n)).alarms).toEqual([{ memberID: 5n, alarm: AlarmType.CORRUPT }]);
    expect((await put(s, "b")).header?.revision).toBe(3n);
    expect((await s.status()).errors).toEqual([]);
    await s.stop();
  });

  it("a NOSPACE alarm refuses puts and txns with puts, and lets deletes and compaction free space", async () => {
    const s = await open(tmp());
    await put(s, "a");
    await alarm(s, Action.ACTIVATE, AlarmType.NOSPACE);
    await expect(put(s, "b")).rejects.toBe(Errors.noSpace);
    const txnPut = etcdserverpb.TxnRequest.fromPartial({ failure: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key: b("c"), value: b("1") }) }] });
    await expect(s.txn(txnPut)).rejects.toBe(Errors.noSpace);
    const txnDel = etcdserverpb.TxnRequest.fromPartial({ success: [{ requestDeleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("a") }) }] });
    expect((await s.txn(txnDel)).succeeded).toBe(true);
    await s.compact(etcdserverpb.CompactionRequest.fromPartial({ revision: 2n }));
    expect((await s.status()).errors).toEqual(["alarm:NOSPACE "]);
    // GET filters by type; NONE lists all.
    await alarm(s, Action.ACTIVATE, AlarmType.CORRUPT, 7n);
    expect((await alarm(s, Action.GET, AlarmType.NOSPACE)).alarms).toEqual([{ memberID: 0n, alarm: AlarmType.NOSPACE }]);
    expect((await alarm(s, Action.GET, AlarmType.NONE)).alarms).toHaveLength(2);
    // With CORRUPT cleared, NOSPACE still caps writes.
    await alarm(s, Action.DEACTIVATE, AlarmType.CORRUPT, 7n);
    await expect(put(s, "b")).rejects.toBe(Errors.noSpace);
    await alarm(s, Action.DEACTIVATE, AlarmType.NOSPACE);
    await put(s, "b");
    await s.stop();
  });

  it("reports the committed index and the backend size in use in Status", async () => {
    const s = await open(tmp());
    for (let i = 0; i < 20; i++) await put(s, `k${i}`);
    const st = await s.status();
    expect(st.raftIndex).toBe(st.raftAppliedIndex);
    expect(st.dbSizeInUse).toBeGreaterThan(0n);
    expect(st.dbSizeInUse).toBeLessThanOrEqual(st.dbSize);
    expect(st.errors).toEqual([]);
    await s.stop();
  });
});
