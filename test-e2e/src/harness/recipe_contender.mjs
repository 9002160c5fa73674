// recipe_contender.mjs is one client process of lock_election_faults.test.ts: it takes a lock
// (Etcd.lock) or leads an election (Etcd.election) over and over, and while it holds, it makes
// fenced writes: a txn that puts `<name>/fenced` = "<id>:<fence>:<seq>" only if its own key
// still has the create revision it was granted (the fencing revision). It never checks
// whether it still holds before writing: a paused or cut-off holder keeps trying, which is
// exactly what the fence must stop. It prints one JSON line per event on stdout.
//
// usage: node recipe_contender.mjs lock|elect <name> <endpoint,...> <id> <ttl s> <writes per hold>
import { Etcd, compare, op } from "@etcd-ts/client";

const [mode, name, endpoints, id, ttlArg, writesArg] = process.argv.slice(2);
if (mode !== "lock" && mode !== "elect") throw new Error("usage: recipe_contender.mjs lock|elect <name> <endpoints> <id> <ttl> <writes>");
const ttl = Number(ttlArg);
const writes = Number(writesArg);
const etcd = new Etcd({ endpoints: String(endpoints).split(","), keepAliveTimeMs: 1000, keepAliveTimeoutMs: 1000 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (o) => process.stdout.write(`${JSON.stringify({ id, t: Date.now(), ...o })}\n`);
const CALL = { timeoutMs: 3000 };

/** hold makes `writes` fenced writes, 150 ms apart, as the holder of key with the given fence. */
async function hold(key, fence) {
  for (let seq = 0; seq < writes; seq++) {
    try {
      const r = await etcd
        .txn()
        .if(compare.createRevision(key, "==", fence))
        .do(op.put(`${name}/fenced`, `${id}:${fence}:${seq}`))
        .commit(CALL);
      out({ ev: r.succeeded ? "wrote" : "fenced", fence: String(fence), seq, rev: String(r.revision) });
    } catch (e) {
      out({ ev: "write-error", fence: String(fence), seq, msg: String(e?.message ?? e) });
    }
    await sleep(150);
  }
}

let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
});

while (!stopping) {
  out({ ev: "attempt" });
  try {
    if (mode === "lock") {
      await etcd.lock(
        `${name}/lock`,
        async (held) => {
          out({ ev: "holding", fence: String(held.revision) });
          await hold(held.key, held.revision);
        },
        { ttl },
      );
    } else {
      const e = etcd.election(`${name}/election`, { ttl });
      try {
        await e.campaign(id);
        out({ ev: "holding", fence: String(e.revision) });
        await hold(e.key, e.revision);
      } finally {
        await e.close();
      }
    }
    out({ ev: "released" });
  } catch (e) {
    out({ ev: "error", msg: String(e?.message ?? e) });
    await sleep(200);
  }
  // Give the others a turn.
  await sleep(50);
}
etcd.close();
