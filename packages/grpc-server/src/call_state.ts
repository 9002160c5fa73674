import type { MethodObserver } from "./observer.js";
import type { GrpcError } from "./status.js";

/**
 * CancelState is the cancellation side of a call (Call on HTTP/2, LocalCall in process): the
 * reason once cancelled, an AbortSignal made on first use, and the onCancel callbacks.
 * Invariant: the reason is set at most once, and then the signal is aborted and every
 * callback called exactly once with it.
 */
export class CancelState {
  /** reason is why the call was cancelled; undefined while it is not. */
  reason: GrpcError | undefined;
  private abort: AbortController | undefined;
  private callbacks: ((reason: Error) => void)[] | undefined;

  get signal(): AbortSignal {
    if (this.abort === undefined) {
      this.abort = new AbortController();
      if (this.reason !== undefined) this.abort.abort(this.reason);
    }
    return this.abort.signal;
  }

  /**
   * onCancel calls cb with the reason when the call is cancelled. On a call that already
   * ended, cb is called (in a microtask) only if it ended cancelled.
   */
  onCancel(cb: (reason: Error) => void, ended: boolean): void {
    if (ended) {
      const r = this.reason;
      if (r !== undefined) queueMicrotask(() => cb(r));
      return;
    }
    (this.callbacks ??= []).push(cb);
  }

  /** cancel records the reason and tells the signal and the callbacks; false if already cancelled. */
  cancel(reason: GrpcError): boolean {
    if (this.reason !== undefined) return false;
    this.reason = reason;
    this.abort?.abort(reason);
    const cbs = this.callbacks;
    this.callbacks = undefined;
    if (cbs !== undefined) for (const cb of cbs) cb(reason);
    return true;
  }
}

/**
 * ObservedSpan reports one call to its MethodObserver: started (with its request, if one came
 * with the call), then handled exactly once with the status code and the seconds it took.
 * `active` is true between the two, when message counts are reported too.
 */
export class ObservedSpan {
  active = false;
  private observer: MethodObserver | undefined;
  /** startedAt is performance.now() at start, in milliseconds. */
  private startedAt = 0;

  start(o: MethodObserver | undefined, withRequest: boolean): void {
    if (o === undefined) return;
    this.observer = o;
    this.active = true;
    this.startedAt = performance.now();
    o.started();
    if (withRequest) o.received();
  }

  received(): void {
    if (this.active) this.observer?.received();
  }

  sent(): void {
    if (this.active) this.observer?.sent();
  }

  end(code: number): void {
    if (!this.active) return;
    this.active = false;
    this.observer?.handled(code, (performance.now() - this.startedAt) / 1000);
  }
}
