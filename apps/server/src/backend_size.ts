/**
 * BackendSize keeps the backend's size on disk (the bytes of every file in its directory, as
 * Backend.sizeBytes measures it) at hand for checks that cannot wait for the disk, such as
 * the quota check on every put. The size is measured again every intervalMs (default 100 ms)
 * while started, and whenever refresh is called (after a defragmentation, for instance), so
 * it trails the disk by at most about one interval. etcd reads bbolt's file size, which is
 * exact; RocksDB's files are many, so they are summed in the background instead.
 */
export class BackendSize {
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    /** measure returns the size in bytes now (Backend.sizeBytes). */
    private readonly measure: () => Promise<number>,
    private readonly intervalMs = 100,
    /** onError receives a failed measurement (the last size is kept). */
    private readonly onError: (err: unknown) => void = () => undefined,
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

  /** get is the size in bytes as last measured. */
  get(): number {
    return this.bytes;
  }

  /** refresh resolves once a measurement that started after the call has completed. */
  async refresh(): Promise<void> {
    while (this.running !== undefined) await this.running;
    await this.measureOnce();
  }

  private measureOnce(): Promise<void> {
    this.running = this.measure()
      .then(
        (n) => {
          this.bytes = n;
        },
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
