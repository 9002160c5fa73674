import type { Backend, WriteOp } from "./backend.js";

/**
 * mergedScan iterates the backend range [gte, lt) (unbounded when undefined) as it will be
 * once the unwritten operations are written: they are replayed, in order, over a backend
 * snapshot that may already hold some of them. That is exact as long as every unwritten
 * operation is idempotent against the snapshot, as puts of immutable revisions are.
 */
export async function* mergedScan(
  backend: Backend,
  unwritten: readonly WriteOp[],
  gte: Buffer | undefined,
  lt: Buffer | undefined,
): AsyncGenerator<[Buffer, Buffer]> {
  const overlay = new Map<string, { key: Buffer; value: Buffer | undefined }>();
  for (const op of unwritten) {
    if (gte !== undefined && Buffer.compare(op.key, gte) < 0) continue;
    if (lt !== undefined && Buffer.compare(op.key, lt) >= 0) continue;
    overlay.set(op.key.toString("latin1"), { key: op.key, value: op.type === "put" ? op.value : undefined });
  }
  const extra = [...overlay.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  const opts: { gte?: Buffer; lt?: Buffer } = {};
  if (gte !== undefined) opts.gte = gte;
  if (lt !== undefined) opts.lt = lt;
  let j = 0;
  for await (const chunk of backend.scanChunks(opts)) {
    for (let i = 0; i < chunk.keys.length; i++) {
      const k = chunk.keys[i]!;
      while (j < extra.length && Buffer.compare(extra[j]!.key, k) < 0) {
        const e = extra[j++]!;
        if (e.value !== undefined) yield [e.key, e.value];
      }
      if (j < extra.length && extra[j]!.key.equals(k)) {
        const e = extra[j++]!;
        if (e.value !== undefined) yield [e.key, e.value];
        continue;
      }
      yield [k, chunk.values[i]!];
    }
  }
  for (; j < extra.length; j++) {
    const e = extra[j]!;
    if (e.value !== undefined) yield [e.key, e.value];
  }
}
