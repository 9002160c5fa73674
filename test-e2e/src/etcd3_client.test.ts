import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/** The npm etcd3 client, unchanged, against etcd-ts. */
describe("etcd3 npm client", () => {
  let m: Member;
  let client: Etcd3;
  beforeAll(async () => {
    m = await Member.create({ kind: "etcd-ts" });
    await m.start();
    client = new Etcd3({ hosts: m.url });
  });
  afterAll(async () => {
    client.close();
    await m.destroy();
  });

  it("puts, gets and deletes", async () => {
    await client.put("greeting").value("hello");
    expect(await client.get("greeting").string()).toBe("hello");
    const buf = Buffer.from([0, 1, 2, 255]);
    await client.put("binary").value(buf);
    expect(await client.get("binary").buffer()).toEqual(buf);
    await client.delete().key("greeting");
    expect(await client.get("greeting").string()).toBeNull();
  });

  it("reads prefixes with getAll, and counts", async () => {
    for (let i = 0; i < 5; i++) await client.put(`app/${i}`).value(`v${i}`);
    await client.put("apple").value("not in prefix");
    expect(await client.getAll().prefix("app/").strings()).toEqual({
      "app/0": "v0",
      "app/1": "v1",
      "app/2": "v2",
      "app/3": "v3",
      "app/4": "v4",
    });
    expect(await client.getAll().prefix("app/").count()).toBe(5);
    expect(await client.getAll().prefix("app/").keys()).toEqual(["app/0", "app/1", "app/2", "app/3", "app/4"]);
    expect(await client.getAll().prefix("app/").limit(2).keys()).toEqual(["app/0", "app/1"]);
    await client.delete().prefix("app/");
    expect(await client.getAll().prefix("app/").count()).toBe(0);
    expect(await client.get("apple").string()).toBe("not in prefix");
  });

  it("runs transactions both ways", async () => {
    await client.put("lock").value("free");
    const won = await client
      .if("lock", "Value", "==", "free")
      .then(client.put("lock").value("taken"), client.get("lock"))
      .else(client.get("lock"))
      .commit();
    expect(won.succeeded).toBe(true);
    expect(won.responses).toHaveLength(2);
    const lost = await client.if("lock", "Value", "==", "free").then(client.put("lock").value("taken")).else(client.get("lock")).commit();
    expect(lost.succeeded).toBe(false);
    expect(lost.responses[0]?.response_range?.kvs[0]?.value.toString()).toBe("taken");
    expect(await client.get("lock").string()).toBe("taken");
  });

  it("sees revisions, versions and history", async () => {
    const first = await client.put("hist").value("1").exec();
    await client.put("hist").value("2");
    const old = await client.get("hist").revision(first.header.revision).string();
    expect(old).toBe("1");
    const res = await client.get("hist").exec();
    expect(res.kvs[0]?.version).toBe("2");
    expect(BigInt(res.kvs[0]?.mod_revision ?? "0")).toBeGreaterThan(BigInt(first.header.revision));
  });

  it("gets etcd's errors", async () => {
    await expect(client.get("x").revision(1_000_000).string()).rejects.toThrow(/future revision/);
    await expect(client.kv.put({ key: Buffer.alloc(0), value: Buffer.from("v") })).rejects.toThrow(/key is not provided/);
  });
});
