/**
 * BackendSize keeps the backend's size on disk (the bytes of every file in its directory, as
 * Backend.sizeBytes measures it) at hand for checks that cannot wait for the disk, such as
 * the quota check on every put. The size is measured again every intervalMs (default 1 s)
 * while started, and whenever refresh is called (after a defragmentation, for instance);
 * between measurements the bytes written since the last one began (`written`, a running
 * count such as Backend.bytesWritten) are added, so a burst of writes counts at once. etcd
 * reads bbolt's file size, which is exact; RocksDB's files are many, so they are summed in the
 * background instead (listing them every 100 ms cost the main thread several percent).
 */
export class BackendSize {
  private bytes = 0;
  /** writtenAtMeasure is `written()` when the measurement behind `bytes` began. */
  private writtenAtMeasure = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    /** measure returns the size in bytes now (Backend.sizeBytes). */
    private readonly measure: () => Promise<number>,
    private readonly intervalMs = 1000,
    /** onError receives a failed measurement (the last size is kept). */
    private readonly onError: (err: unknown) => void = () => undefined,
    /** written is a running count of the bytes written to the backend (0 when not counted). */
    private readonly written: () => number = () => 0,
  ) {}

  /** start measures once and then every intervalMs until stop. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.stopped) return; // stopped while the first measurement ran
    this.timer ??= setInterval(() => {
      if (this.running === undefined) void this.measureOnce();
    }, this.intervalMs).unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** get is the size in bytes as last measured, plus the bytes written since that measurement began. */
  get(): number {
    return this.bytes + Math.max(0, this.written() - this.writtenAtMeasure);
  }

  /** refresh resolves once a measurement that started after the call has completed. */
  async refresh(): Promise<void> {
    while (this.running !== undefined) await this.running;
    await this.measureOnce();
  }

  private measureOnce(): Promise<void> {
    const writtenAtStart = this.written();
    this.running = this.measure()
      .then(
        (n) => {
          this.bytes = n;
          this.writtenAtMeasure = writtenAtStart;
        },
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
