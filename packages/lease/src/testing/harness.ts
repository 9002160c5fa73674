import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend, BatchTx } from "@etcd-ts/backend";
import { leasepb } from "@etcd-ts/proto";
import { Lessor, type LessorOptions } from "../lessor.js";

/** FakeClock is a settable millisecond clock. */
export class FakeClock {
  ms = 0;
  readonly now = (): number => this.ms;
  /** at sets the time in seconds. */
  at(seconds: number): void {
    this.ms = seconds * 1000;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * Harness owns a temp directory, a backend, the batch transaction over it (as the server does)
 * and a lessor writing into it, on a fake clock.
 */
export class Harness {
  dir = "";
  backend!: Backend;
  tx!: BatchTx;
  lessor!: Lessor;
  readonly clock = new FakeClock();
  opts: Omit<LessorOptions, "clock">;

  private constructor(opts: Partial<Omit<LessorOptions, "clock">>) {
    this.opts = { minTtl: 1, checkpointIntervalMs: 5000, ...opts };
  }

  static async create(opts: Partial<Omit<LessorOptions, "clock">> = {}): Promise<Harness> {
    const h = new Harness(opts);
    h.dir = await mkdtemp(join(tmpdir(), "lease-test-"));
    await h.open();
    return h;
  }

  /** open opens the backend, a batch transaction and a lessor from disk. */
  async open(): Promise<void> {
    this.backend = await Backend.open(join(this.dir, "db"));
    this.tx = new BatchTx(this.backend);
    this.lessor = await Lessor.open(this.backend, this.tx, { ...this.opts, clock: this.clock.now });
  }

  commit(): Promise<void> {
    return this.tx.commit();
  }

  async close(): Promise<void> {
    await this.tx.close();
    await this.backend.close();
  }

  /** restart closes everything (dropping uncommitted writes) and opens a new lessor from disk. */
  async restart(): Promise<void> {
    await this.close();
    await this.open();
  }

  async destroy(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** records reads the lease records in the backend: id -> [ttl, remainingTtl]. */
  async records(): Promise<Map<bigint, [bigint, bigint]>> {
    const out = new Map<bigint, [bigint, bigint]>();
    for await (const [, v] of this.backend.scan({ gte: Buffer.from("lease/"), lt: Buffer.from("lease0") })) {
      const r = leasepb.Lease.decode(v);
      out.set(r.ID, [r.TTL, r.RemainingTTL]);
    }
    return out;
  }
}
