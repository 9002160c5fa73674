/** Clock gives microseconds since the run started, from the monotonic clock. */
export class Clock {
  private readonly t0 = process.hrtime.bigint();
  now(): number {
    return Number((process.hrtime.bigint() - this.t0) / 1000n);
  }
}
