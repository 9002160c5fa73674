/**
 * RangeSet is a union of key intervals [start, end) over bytes, kept merged and sorted: the
 * permissions of one kind (read or write) a user holds through all its roles (etcd's
 * unifiedRangePermissions, an interval tree there). `end` undefined means no upper bound
 * (etcd's "\0" range end: every key from start on). A point permission on key k is the
 * interval [k, k + "\0"). As in etcd, where an empty byte string compares above every key,
 * an interval or a key starting at "" matches nothing.
 */
export class RangeSet {
  /** ranges are disjoint, non-adjacent and sorted by start. */
  private ranges: { start: Buffer; end: Buffer | undefined }[] = [];

  /** add puts [start, end) into the set (an empty interval, end <= start, adds nothing). */
  add(start: Buffer, end: Buffer | undefined): void {
    if (start.length === 0 || (end !== undefined && Buffer.compare(end, start) <= 0)) return;
    let s = start;
    let e = end;
    const kept: { start: Buffer; end: Buffer | undefined }[] = [];
    let placed = false;
    for (const r of this.ranges) {
      // r lies wholly before [s, e): r.end < s.
      if (r.end !== undefined && Buffer.compare(r.end, s) < 0) {
        kept.push(r);
        continue;
      }
      // r lies wholly after: e < r.start.
      if (e !== undefined && Buffer.compare(e, r.start) < 0) {
        if (!placed) {
          kept.push({ start: s, end: e });
          placed = true;
        }
        kept.push(r);
        continue;
      }
      // Overlapping or adjacent: merge.
      if (Buffer.compare(r.start, s) < 0) s = r.start;
      if (e !== undefined && (r.end === undefined || Buffer.compare(r.end, e) > 0)) e = r.end;
    }
    if (!placed) kept.push({ start: s, end: e });
    this.ranges = kept;
  }

  /** containsKey reports whether key is in some interval of the set. */
  containsKey(key: Buffer): boolean {
    if (key.length === 0) return false;
    for (const r of this.ranges) {
      if (Buffer.compare(key, r.start) < 0) return false;
      if (r.end === undefined || Buffer.compare(key, r.end) < 0) return true;
    }
    return false;
  }

  /** covers reports whether the set holds every key of [start, end) (end undefined: no upper bound). */
  covers(start: Buffer, end: Buffer | undefined): boolean {
    if (start.length === 0) return false;
    for (const r of this.ranges) {
      if (Buffer.compare(start, r.start) < 0) return false;
      if (r.end === undefined) return true;
      if (Buffer.compare(start, r.end) < 0) return end !== undefined && Buffer.compare(end, r.end) <= 0;
    }
    return false;
  }

  /** size is the number of merged intervals. */
  get size(): number {
    return this.ranges.length;
  }
}
