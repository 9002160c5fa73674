import type { etcdserverpb } from "@etcd-ts/proto";
import type { Clock } from "../compactor/clock.js";
import type { Compactable, RevGetter } from "../compactor/compactor.js";
import { Logger, type Fields, type Level } from "../log.js";

/** LogLine is one line a CapturingLogger kept. */
export interface LogLine {
  level: Level;
  msg: string;
  fields: Fields;
}

/** CapturingLogger keeps its lines instead of writing them. */
export class CapturingLogger extends Logger {
  readonly lines: LogLine[] = [];

  constructor() {
    super("debug");
  }

  protected override write(level: Level, _caller: string, msg: string, fields?: Fields): void {
    this.lines.push({ level, msg, fields: fields ?? {} });
  }

  /** messages lists the lines' messages in order. */
  get messages(): string[] {
    return this.lines.map((l) => l.msg);
  }
}

/**
 * FakeRevGetter is a store's current revision. In counting mode (etcd's fakeRevGetter) every
 * read returns one more than the last (1, 2, 3, ...); otherwise it returns `current`.
 */
export class FakeRevGetter implements RevGetter {
  reads = 0;
  constructor(
    public current: bigint = 0n,
    private readonly counting = false,
  ) {}

  rev(): bigint {
    this.reads++;
    if (this.counting) this.current += 1n;
    return this.current;
  }
}

/** Compaction is one compaction a FakeCompactable received: the revision and the fake time. */
export interface Compaction {
  revision: bigint;
  at: number;
}

/**
 * FakeCompactable records each compaction with the clock's time. Errors put in `failures`
 * fail the next compactions, one each, in order; the others succeed.
 */
export class FakeCompactable implements Compactable {
  readonly compactions: Compaction[] = [];
  readonly failures: unknown[] = [];

  constructor(private readonly clock: Clock) {}

  async compact(req: etcdserverpb.CompactionRequest): Promise<unknown> {
    this.compactions.push({ revision: req.revision, at: this.clock.now() });
    const err = this.failures.shift();
    if (err !== undefined) throw err;
    return {};
  }

  /** revisions lists the compacted revisions in order. */
  get revisions(): bigint[] {
    return this.compactions.map((c) => c.revision);
  }
}

/** MIN is one minute in milliseconds; HOUR one hour. */
export const MIN = 60_000;
export const HOUR = 60 * MIN;
