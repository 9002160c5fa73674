import { Etcd3 } from "etcd3";
const c = new Etcd3({ hosts: "http://127.0.0.1:42379" });
let n = 0;
await Promise.all(Array.from({length: 16}, async (_, w) => { for (let i = 0; i < 200; i++) { await c.put(`w${w}/k${i}`).value(`v${i}`); n++; } }));
console.log("done", n); c.close();
