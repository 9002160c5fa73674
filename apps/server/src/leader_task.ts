import type { Logger } from "./log.js";

/**
 * LeaderTask runs an async pass every intervalMs while this member leads (leading() tells),
 * never two passes at once; a failed pass is logged as `failure` and the next one runs on
 * time. runNow starts a pass at once (still only on the leader).
 */
export class LeaderTask {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly leading: () => boolean,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void>,
    private readonly logger: Logger,
    private readonly failure: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.runNow(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  runNow(): void {
    if (this.running || !this.leading()) return;
    this.running = true;
    this.pass().then(
      () => (this.running = false),
      (err: unknown) => {
        this.running = false;
        this.logger.warn(this.failure, { error: (err as Error)?.message ?? String(err) });
      },
    );
  }
}
