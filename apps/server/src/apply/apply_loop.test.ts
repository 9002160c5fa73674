import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Backend, consistentIndexKey } from "@etcd-ts/backend";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import type { EtcdServer } from "../etcd_server.js";
import { Errors } from "../errors.js";
import { Membership } from "../membership.js";
import { MEMBERSHIP_KEY } from "../membership_store.js";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";
import { decodeConsistentIndex } from "./apply_loop.js";

const b = (s: string) => Buffer.from(s);
const tmp = tmpDataDir;
const open = (dataDir: string): Promise<EtcdServer> => openMember(dataDir);

afterEach(removeDataDirs);

describe("the apply layer", () => {
  it("keeps the member list in the backend, in the batch of the entry that changed it", async () => {
    const dir = tmp();
    const s = await open(dir);
    // Publishing this member's attributes is an applied entry: name and client URLs land in
    // the backend together with the consistent index of that entry.
    for (let i = 0; i < 100 && (s.membership.members.get(s.memberId)?.clientUrls.length ?? 0) === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await s.put(etcdserverpb.PutRequest.fromPartial({ key: b("a"), value: b("1") }));
    const applied = s.appliedIndex;
    await s.stop();
    expect(existsSync(join(dir, "member", "membership.json"))).toBe(false);
    const backend = await Backend.open(join(dir, "member", "snap", "db"));
    const stored = Membership.decode((await backend.get(MEMBERSHIP_KEY)) as Buffer);
    expect(stored.members.get(s.memberId)?.clientUrls).toEqual(["http://localhost:2379"]);
    expect(decodeConsistentIndex(await backend.get(consistentIndexKey))).toBe(applied);
    await backend.close();
  });

  it("converts a data directory whose member list is in membership.json", async () => {
    const dir = tmp();
    const s = await open(dir);
    const id = s.memberId;
    const clusterId = s.membership.clusterId;
    await s.stop();
    // Recreate the layout of earlier versions: the member list in a file, none in the backend.
    const backend = await Backend.open(join(dir, "member", "snap", "db"));
    const m = Membership.decode((await backend.get(MEMBERSHIP_KEY)) as Buffer);
    m.members.get(id)!.name = "from-the-file";
    await backend.write([{ type: "del", key: MEMBERSHIP_KEY }], { sync: true });
    await backend.close();
    const file = join(dir, "member", "membership.json");
    writeFileSync(file, m.encode());

    const again = await open(dir);
    expect(again.membership.clusterId).toBe(clusterId);
    expect([...again.membership.members.keys()]).toEqual([id]);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.converted`)).toBe(true);
    await again.stop();
  });

  it("checks a put's lease when it is applied, in puts and in txns", async () => {
    const s = await open(tmp());
    const put = etcdserverpb.PutRequest.fromPartial({ key: b("k"), value: b("v"), lease: 0x1234n });
    const before = s.appliedIndex;
    await expect(s.put(put)).rejects.toBe(Errors.leaseNotFound);
    await expect(s.txn(etcdserverpb.TxnRequest.fromPartial({ success: [{ requestPut: put }] }))).rejects.toBe(Errors.leaseNotFound);
    // The requests went through the log (two entries) and failed where they were applied.
    expect(s.appliedIndex).toBe(before + 2n);
    expect((await s.range(etcdserverpb.RangeRequest.fromPartial({ key: b("k") }))).header?.revision).toBe(1n);
    await s.stop();
  });
});
